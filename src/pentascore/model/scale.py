"""The score scale: 350-950, bands, integer points, and the odds each score stands for.

Pure functions over arrays; both model families use them.

Scaling. A model's attainable log-odds range is mapped linearly onto 350-950 (min-max
scaling), so the bounds hold by construction and every point is the same amount of evidence
anywhere on the scale. What a point means in odds is then measured, not assumed: a one-variable
logistic regression of the outcome on the score gives ``ln(odds of bad) = a + b * score``, from
which the card states the points that halve the odds of default (PDO = ln 2 / -b) and the
score at which the odds are 1:1. `Calibration` keeps ``a`` and ``b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pentascore.core.errors import ModelError

MIN_SCORE = 350
MAX_SCORE = 950
SPAN = MAX_SCORE - MIN_SCORE

# SPEC.md: 350-549 poor, 550-599 fair, 600-649 good, 650-699 very good, 700-950 excellent.
BANDS: tuple[tuple[str, int], ...] = (
    ("poor", 350),
    ("fair", 550),
    ("good", 600),
    ("very good", 650),
    ("excellent", 700),
)
BAND_NAMES: tuple[str, ...] = tuple(name for name, _ in BANDS)


def band_index(scores: np.ndarray) -> np.ndarray:
    """The band of each score as an index into `BANDS`."""
    lows = np.array([low for _, low in BANDS[1:]])
    index: np.ndarray = np.searchsorted(lows, np.asarray(scores), side="right")
    return index


def band_names(scores: np.ndarray) -> np.ndarray:
    names: np.ndarray = np.asarray(BAND_NAMES, dtype=object)[band_index(scores)]
    return names


def largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``shares`` (>= 0) that sum to exactly ``total``."""
    shares = np.asarray(shares, dtype=np.float64)
    if shares.sum() <= 0:
        raise ModelError("cannot share points among parts that all weigh nothing.")
    exact = shares / shares.sum() * total
    whole = np.floor(exact).astype(np.int64)
    short = total - int(whole.sum())
    order = np.argsort(-(exact - whole), kind="stable")
    whole[order[:short]] += 1
    result: np.ndarray = whole
    return result


def round_rows(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round each row of ``parts`` to integers whose sum is the row's sum, rounded.

    Returns the rounded parts and their row sums. Each part moves by less than 1, so the
    rounded parts still explain the row (the GBDT's points per feature, whose sum is the score).
    """
    parts = np.asarray(parts, dtype=np.float64)
    totals = np.rint(parts.sum(axis=1)).astype(np.int64)
    floor = np.floor(parts)
    # sum(floor) <= sum <= sum(floor) + width, so 0 <= short <= width.
    short = totals - floor.sum(axis=1).astype(np.int64)
    rank = np.argsort(np.argsort(-(parts - floor), axis=1, kind="stable"), axis=1, kind="stable")
    return floor.astype(np.int64) + (rank < short[:, None]), totals


@dataclass(frozen=True)
class Calibration:
    """``ln(odds of bad) = intercept + slope * score``, fitted on training rows."""

    intercept: float
    slope: float

    @property
    def pdo(self) -> float:
        """Points that halve the odds of default."""
        return math.log(2) / -self.slope if self.slope < 0 else math.inf

    @property
    def even_odds_score(self) -> float:
        """The score at which default is as likely as not."""
        return -self.intercept / self.slope if self.slope else math.nan

    def probability(self, scores: np.ndarray) -> np.ndarray:
        z = self.intercept + self.slope * np.asarray(scores, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z))


def calibrate(scores: np.ndarray, bad: np.ndarray) -> Calibration:
    """Fit `Calibration` by maximum likelihood (scikit-learn, essentially unpenalised)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    if len(np.unique(bad)) < 2:
        raise ModelError("calibration needs both good and bad outcomes.")
    # Centre the score so the solver is well conditioned, then undo it.
    centre = float(x.mean())
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x - centre, bad)
    slope = float(fit.coef_[0, 0])
    return Calibration(intercept=float(fit.intercept_[0]) - slope * centre, slope=slope)
