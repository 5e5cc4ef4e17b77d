"""Drift: the population stability index (PSI) and the band migration matrix.

Pure functions over arrays.

PSI compares a *current* sample of a variable with a *reference* sample (last month's)::

    PSI = sum over bins of (current share - reference share) * ln(current share / reference share)

- Bins are the reference's quantiles (10 by default), so each holds about a tenth of the
  reference. A value that holds at least one bin's worth of the reference on its own (a mass
  point: the zeros of a count, a score pinned at 950) is a bin of its own, between the
  intervals on either side of it, rather than a run of tied quantiles. Missing values (NaN)
  are a bin of their own whenever either sample has any.
- Shares are smoothed with a pseudo-count (`SMOOTHING` = 0.5 per bin, Laplace/Jeffreys), so a
  bin empty in one sample gives a large but finite term instead of an infinite one. A bin
  empty in both samples is left out.
- Conventional reading: below 0.1 "stable", 0.1 to 0.25 "watch", 0.25 and above "shift".

PSI is zero for identical samples and never negative (each term is (a - b) ln(a / b) >= 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pentascore.core.errors import ConfigError
from pentascore.model.scale import BAND_NAMES, band_index

STABLE, WATCH, SHIFT = "stable", "watch", "shift"
WATCH_AT = 0.1
SHIFT_AT = 0.25
DEFAULT_BINS = 10
SMOOTHING = 0.5
MISSING = "missing"


def status(value: float) -> str:
    """``stable`` below 0.1, ``watch`` below 0.25, ``shift`` from 0.25; ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    if value < WATCH_AT:
        return STABLE
    return WATCH if value < SHIFT_AT else SHIFT


@dataclass(frozen=True)
class Bins:
    """Bins cut from a reference sample.

    ``edges`` are sorted, distinct cut values; ``points[j]`` says whether ``edges[j]`` is a
    mass point (a bin of its own) rather than the closed left end of the next interval.
    ``missing`` adds a last bin for NaN.
    """

    edges: np.ndarray
    points: np.ndarray
    missing: bool

    @property
    def labels(self) -> list[str]:
        """A readable name per bin, in bin order."""
        out: list[str] = []
        k = len(self.edges)
        # Raw regions: 2j is the open interval (e_j, e_j+1), 2j-1 is the value e_j itself.
        lower: tuple[str, float] | None = None  # the bound the next interval starts at
        for j in range(k + 1):
            upper = f"{_fmt(self.edges[j])}" if j < k else None
            if lower is None:
                text = f"< {upper}" if upper is not None else "all"
            elif upper is None:
                text = f"{'>' if lower[0] == '(' else '>='} {_fmt(lower[1])}"
            else:
                text = f"{lower[0]}{_fmt(lower[1])}, {upper})"
            out.append(text)
            if j < k:
                if self.points[j]:
                    out.append(f"= {_fmt(self.edges[j])}")
                    lower = ("(", float(self.edges[j]))
                else:
                    lower = ("[", float(self.edges[j]))
        if self.missing:
            out.append(MISSING)
        return out

    @property
    def count(self) -> int:
        return len(self.edges) + 1 + int(self.points.sum()) + int(self.missing)

    def assign(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value (NaN in the missing bin)."""
        x = np.asarray(values, dtype=np.float64)
        nan = np.isnan(x)
        left = np.searchsorted(self.edges, x, side="left")
        right = np.searchsorted(self.edges, x, side="right")
        raw = left + right
        # Compact the 2k+1 raw regions: a non-point edge joins the interval after it.
        k = len(self.edges)
        keep = np.ones(2 * k + 1, dtype=bool)
        keep[1::2] = self.points
        order = np.cumsum(keep) - 1
        merged = np.arange(2 * k + 1)
        merged[1::2] = np.where(self.points, merged[1::2], merged[1::2] + 1)
        index: np.ndarray = order[merged][raw]
        if self.missing:
            index = np.where(nan, self.count - 1, index)
        elif nan.any():
            raise ConfigError("values are missing but the bins have no missing bin.")
        return index


def _fmt(value: float) -> str:
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def quantile_bins(reference: np.ndarray, bins: int = DEFAULT_BINS, missing: bool = False) -> Bins:
    """Bins at the reference's quantiles (see the module docstring); ``missing`` forces a bin
    for NaN even if the reference has none (the current sample may)."""
    if bins < 2:
        raise ConfigError(f"bins must be at least 2; got {bins}.")
    x = np.asarray(reference, dtype=np.float64)
    nan = np.isnan(x)
    values = np.sort(x[~nan])
    has_missing = missing or bool(nan.any())
    if len(values) == 0:
        return Bins(np.empty(0), np.empty(0, dtype=bool), has_missing)
    n = len(values)
    # The i-th cut is the first value of the (i+1)-th tenth of the sorted reference (exact
    # integer positions), so without ties each interval holds n / bins values, give or take one.
    positions = np.minimum(-(-np.arange(1, bins) * n // bins), n - 1)
    cuts = np.unique(values[positions])
    # A value holding n / bins values or more covers one of those positions, or is the
    # minimum or the maximum: only those can be mass points.
    candidates = np.unique(np.r_[cuts, values[0], values[-1]])
    size = np.searchsorted(values, candidates, side="right") - np.searchsorted(
        values, candidates, side="left"
    )
    is_point = size >= n / bins
    # A cut at the minimum would make an empty first interval.
    cuts = cuts[cuts > values[0]]
    edges = np.union1d(cuts, candidates[is_point])
    points = np.isin(edges, candidates[is_point])
    return Bins(edges, points, has_missing)


@dataclass(frozen=True)
class Psi:
    """The PSI of a current sample against a reference, with its bins."""

    value: float
    reference_people: int
    current_people: int
    labels: list[str]
    reference_counts: list[int]
    current_counts: list[int]

    @property
    def status(self) -> str:
        return status(self.value)

    def to_dict(self, with_bins: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "psi": None if math.isnan(self.value) else round(self.value, 6),
            "status": self.status,
            "reference_people": self.reference_people,
            "current_people": self.current_people,
        }
        if with_bins:
            out["bins"] = [
                {"bin": label, "reference": r, "current": c}
                for label, r, c in zip(
                    self.labels, self.reference_counts, self.current_counts, strict=True
                )
            ]
        return out


def psi_of_counts(
    reference: np.ndarray, current: np.ndarray, smoothing: float = SMOOTHING
) -> float:
    """PSI from the two samples' counts per bin, each count plus ``smoothing``; a bin empty in
    both samples says nothing and is left out."""
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    seen = (r > 0) | (c > 0)
    r, c = r[seen] + smoothing, c[seen] + smoothing
    if r.sum() <= 0 or c.sum() <= 0:
        return math.nan
    p, q = r / r.sum(), c / c.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p == q, 0.0, (q - p) * np.log(q / p))
    return float(max(terms.sum(), 0.0))


def psi(
    reference: np.ndarray,
    current: np.ndarray,
    bins: int = DEFAULT_BINS,
    smoothing: float = SMOOTHING,
) -> Psi:
    """The PSI of ``current`` against ``reference`` over the reference's quantile bins.

    NaN when either sample is empty (missing values count as values: they have a bin)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    cut = quantile_bins(ref, bins, missing=bool(np.isnan(cur).any()))
    ref_counts = np.bincount(cut.assign(ref), minlength=cut.count)
    cur_counts = np.bincount(cut.assign(cur), minlength=cut.count)
    value = psi_of_counts(ref_counts, cur_counts, smoothing) if len(ref) and len(cur) else math.nan
    return Psi(
        value=value,
        reference_people=len(ref),
        current_people=len(cur),
        labels=cut.labels,
        reference_counts=[int(v) for v in ref_counts],
        current_counts=[int(v) for v in cur_counts],
    )


def feature_psi(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    bins: int = DEFAULT_BINS,
) -> dict[str, Psi]:
    """The PSI of every feature present in both samples, largest first."""
    out = {name: psi(reference[name], current[name], bins) for name in reference if name in current}
    return dict(sorted(out.items(), key=lambda kv: -np.nan_to_num(kv[1].value, nan=-1.0)))


@dataclass(frozen=True)
class Migration:
    """People scored in both runs, by band in the earlier run (rows) and the later (columns).

    ``counts[i][j]`` are people in band ``BAND_NAMES[i]`` before and ``BAND_NAMES[j]`` after.
    """

    counts: np.ndarray
    only_before: int
    only_after: int
    mean_change: float

    @property
    def people(self) -> int:
        return int(self.counts.sum())

    @property
    def row_shares(self) -> np.ndarray:
        """Each row's counts as shares of the row (0 for an empty row)."""
        rows = self.counts.sum(axis=1, keepdims=True)
        shares: np.ndarray = np.divide(
            self.counts, rows, out=np.zeros(self.counts.shape), where=rows > 0
        )
        return shares

    @property
    def stayed(self) -> int:
        return int(np.trace(self.counts))

    @property
    def up(self) -> int:
        return int(np.triu(self.counts, 1).sum())

    @property
    def down(self) -> int:
        return int(np.tril(self.counts, -1).sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": list(BAND_NAMES),
            "counts": self.counts.astype(int).tolist(),
            "row_shares": np.round(self.row_shares, 6).tolist(),
            "people": self.people,
            "stayed": self.stayed,
            "up": self.up,
            "down": self.down,
            "only_before": self.only_before,
            "only_after": self.only_after,
            "mean_change": round(self.mean_change, 4) if self.people else None,
        }


def migration(
    before_ids: Sequence[str] | np.ndarray,
    before_scores: np.ndarray,
    after_ids: Sequence[str] | np.ndarray,
    after_scores: np.ndarray,
) -> Migration:
    """The band migration matrix of the people in both runs (ids are unique within a run)."""
    a_ids = np.asarray(before_ids, dtype=str)
    b_ids = np.asarray(after_ids, dtype=str)
    if len(np.unique(a_ids)) != len(a_ids) or len(np.unique(b_ids)) != len(b_ids):
        raise ConfigError("a score run must have one row per person.")
    _, ia, ib = np.intersect1d(a_ids, b_ids, assume_unique=True, return_indices=True)
    before = np.asarray(before_scores)[ia]
    after = np.asarray(after_scores)[ib]
    n = len(BAND_NAMES)
    cells = band_index(before) * n + band_index(after)
    counts = np.bincount(cells, minlength=n * n).reshape(n, n)
    change = float(np.mean(after.astype(np.float64) - before)) if len(ia) else math.nan
    return Migration(
        counts=counts,
        only_before=len(a_ids) - len(ia),
        only_after=len(b_ids) - len(ib),
        mean_change=change,
    )
