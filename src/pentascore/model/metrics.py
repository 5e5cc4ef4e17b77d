"""How good a score is: discrimination, calibration, and the bad rate of each band.

Pure functions over arrays. ``risk`` is anything that grows with the chance of default (a
probability, or minus the score); ``bad`` is the 0/1 outcome.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pentascore.model.scale import BAND_NAMES, band_index


def auc(bad: np.ndarray, risk: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), by ranks."""
    from scipy.stats import rankdata

    bad = np.asarray(bad).astype(bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        return float("nan")
    ranks = rankdata(risk)
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def ks(bad: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bads' and goods' cumulative shares."""
    bad = np.asarray(bad).astype(bool)
    order = np.argsort(-np.asarray(risk, dtype=np.float64), kind="stable")
    risk_sorted = np.asarray(risk, dtype=np.float64)[order]
    hit = bad[order]
    cum_bad = np.cumsum(hit) / max(hit.sum(), 1)
    cum_good = np.cumsum(~hit) / max((~hit).sum(), 1)
    # Only compare at the end of each run of equal risk: tied rows cannot be split.
    last = np.r_[risk_sorted[1:] != risk_sorted[:-1], True]
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def brier(bad: np.ndarray, probability: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability) - np.asarray(bad)) ** 2))


@dataclass(frozen=True)
class BandRow:
    band: str
    people: int
    bads: int

    @property
    def bad_rate(self) -> float | None:
        return self.bads / self.people if self.people else None


def band_table(bad: np.ndarray, scores: np.ndarray) -> list[BandRow]:
    """People and bads per band, poor to excellent."""
    index = band_index(scores)
    people = np.bincount(index, minlength=len(BAND_NAMES))
    bads = np.bincount(index, weights=np.asarray(bad, dtype=np.float64), minlength=len(BAND_NAMES))
    return [
        BandRow(name, int(p), int(b)) for name, p, b in zip(BAND_NAMES, people, bads, strict=True)
    ]


def bands_monotone(rows: list[BandRow]) -> bool:
    """Whether the bad rate falls from each populated band to the next better one."""
    rates = [r.bad_rate for r in rows if r.bad_rate is not None]
    return all(a > b for a, b in itertools.pairwise(rates))


def calibration_table(
    bad: np.ndarray, probability: np.ndarray, groups: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed bad rate, people) per group of equal size, low risk first."""
    order = np.argsort(np.asarray(probability), kind="stable")
    out = []
    for part in np.array_split(order, groups):
        if len(part):
            out.append((float(np.mean(probability[part])), float(np.mean(bad[part])), len(part)))
    return out
