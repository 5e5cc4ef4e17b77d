"""The scorecard: optimal bins, weight of evidence, logistic regression, integer points per bin.

Fitting (`fit_scorecard`) learns the bins and one coefficient per column. Allocating
(`allocate`) turns them into points: every column's worst bin gets 0 points, and the whole
model's best attainable total is exactly 600, so ``score = 350 + sum of points`` lies in
350-950 for every person, and grouping the points by column gives the five dimension points.

- ``published`` allocation: each dimension's best attainable points are its published weight
  (35/25/20/15/5 by default, shared among the dimensions that have columns) of 600.
- ``learned`` allocation: the logistic regression's own weights decide; each dimension's share
  of the 600 points is then the learned share the card reports.

Inside a dimension the columns keep the regression's relative weights either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from pentascore.core.errors import ModelError
from pentascore.core.types import DEFAULT_WEIGHTS, Dimension
from pentascore.model.binning import BinningOptions, BinTable, bin_indices, fit_bins, woe_matrix
from pentascore.model.dataset import Dataset
from pentascore.model.scale import MIN_SCORE, SPAN, Calibration, calibrate, largest_remainder

# The regression's L2 strength is picked by inner cross-validation from this grid.
C_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
INNER_FOLDS = 4


class Allocation(StrEnum):
    PUBLISHED = "published"
    LEARNED = "learned"


@dataclass(frozen=True)
class ScorecardFit:
    """Bins and regression coefficients, before points are allocated."""

    tables: tuple[BinTable, ...]
    coefficients: tuple[float, ...]
    intercept: float
    c: float
    dropped: dict[str, str] = field(default_factory=dict)

    def raw_points(self) -> list[np.ndarray]:
        """Per column, the evidence of each bin in log-odds of good, its worst bin at 0."""
        out = []
        for table, coef in zip(self.tables, self.coefficients, strict=True):
            raw = -coef * np.asarray(table.woe)
            out.append(raw - raw.min())
        return out

    def learned_shares(self) -> dict[Dimension, float]:
        ranges = [r.max() for r in self.raw_points()]
        total = float(sum(ranges))
        shares = dict.fromkeys(Dimension, 0.0)
        for table, span in zip(self.tables, ranges, strict=True):
            shares[table.column.dimension] += float(span) / total if total else 0.0
        return shares


@dataclass(frozen=True)
class Scorecard:
    """A scorecard with points: ``score = base + sum of each column's bin points``."""

    tables: tuple[BinTable, ...]
    base: int
    allocation: Allocation
    weights: dict[Dimension, float]
    learned_shares: dict[Dimension, float]
    calibration: Calibration
    dropped: dict[str, str]
    c: float

    kind = "scorecard"

    @property
    def feature_names(self) -> list[str]:
        return [t.column.name for t in self.tables]

    @property
    def feature_dimensions(self) -> list[Dimension]:
        return [t.column.dimension for t in self.tables]

    def dimension_max(self) -> dict[Dimension, int]:
        best = dict.fromkeys(Dimension, 0)
        for table in self.tables:
            best[table.column.dimension] += max(table.points)
        return best

    def feature_points(self, frame: pd.DataFrame) -> np.ndarray:
        """Points of each row (rows x columns, int64)."""
        return points_matrix(self.tables, frame)

    def score(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Scores and the points behind them: ``score == base + points.sum(axis=1)``."""
        points = self.feature_points(frame)
        return self.base + points.sum(axis=1), points


def points_matrix(tables: tuple[BinTable, ...], frame: pd.DataFrame) -> np.ndarray:
    out = np.zeros((len(frame), len(tables)), dtype=np.int64)
    for j, table in enumerate(tables):
        out[:, j] = np.asarray(table.points, dtype=np.int64)[
            bin_indices(table, frame[table.column.name])
        ]
    return out


def fit_scorecard(
    data: Dataset, *, options: BinningOptions | None = None, seed: int = 0
) -> ScorecardFit:
    """Bins every column, then fits the regression on the bins' evidence.

    The regression's strength comes from inner cross-validation. A column whose coefficient
    comes out against its own evidence (more risk where the bins say less) or at zero is
    dropped and the regression refitted, so every column's points follow its bins' risk order
    and monotone bins give monotone points.
    """
    if data.bad.min() == data.bad.max():
        raise ModelError("training needs both good and bad outcomes.")
    tables = fit_bins(data, options or BinningOptions())
    dropped: dict[str, str] = {}
    for table in list(tables):
        if table.iv < 1e-6:
            dropped[table.column.name] = "no information (one bin, or the same risk in every bin)"
            tables.remove(table)
    woe = woe_matrix(tables, data.frame)
    keep = list(range(len(tables)))
    while True:
        if not keep:
            raise ModelError("no column carries information about the outcome.")
        coef, intercept, c = _regression(woe[:, keep], data.bad, seed)
        wrong = [k for k, b in zip(keep, coef, strict=True) if b > 0]
        if not wrong:
            break
        for k in wrong:
            dropped[tables[k].column.name] = "its weight came out against its own evidence"
        keep = [k for k in keep if k not in wrong]
    return ScorecardFit(
        tables=tuple(tables[k] for k in keep),
        coefficients=tuple(float(b) for b in coef),
        intercept=intercept,
        c=c,
        dropped=dropped,
    )


def _regression(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, float, float]:
    """L2 logistic regression whose strength is chosen by inner cross-validation with the
    one-standard-error rule: the strongest regularisation whose AUC is within one standard
    error of the best. Credit data are small and noisy; the simpler model generalises."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(x, y))
    grid = sorted(C_GRID)
    scores = np.empty((len(grid), len(folds)))
    for i, c in enumerate(grid):
        for j, (train, test) in enumerate(folds):
            fit = LogisticRegression(C=c, max_iter=2000).fit(x[train], y[train])
            scores[i, j] = roc_auc_score(y[test], fit.decision_function(x[test]))
    mean = scores.mean(axis=1)
    best = int(np.argmax(mean))
    standard_error = scores[best].std(ddof=1) / np.sqrt(len(folds))
    c = grid[int(np.flatnonzero(mean >= mean[best] - standard_error)[0])]
    final = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return final.coef_[0], float(final.intercept_[0]), c


def allocate(
    fit: ScorecardFit,
    data: Dataset,
    allocation: Allocation = Allocation.PUBLISHED,
    weights: dict[Dimension, float] = DEFAULT_WEIGHTS,
) -> Scorecard:
    """Integer points per bin for ``fit`` (see the module's docstring), calibrated on ``data``."""
    raw = fit.raw_points()
    spans = np.array([r.max() for r in raw])
    dims = [t.column.dimension for t in fit.tables]
    if allocation is Allocation.PUBLISHED:
        present = {d for d, s in zip(dims, spans, strict=True) if s > 0}
        budget = {d: weights.get(d, 0.0) for d in present}
        if sum(budget.values()) <= 0:
            raise ModelError("the published weights give no points to any dimension in use.")
        dim_span = {d: float(spans[[x == d for x in dims]].sum()) for d in present}
        scale = np.array(
            [budget[d] / dim_span[d] if d in present else 0.0 for d in dims], dtype=np.float64
        )
        shares = spans * scale
    else:
        shares = spans.copy()
    best = largest_remainder(shares, SPAN)
    tables = []
    for table, r, top in zip(fit.tables, raw, best, strict=True):
        span = r.max()
        points = np.rint(r / span * top).astype(np.int64) if span > 0 else np.zeros_like(r)
        tables.append(table.with_points(tuple(int(p) for p in points)))
    frozen = tuple(tables)
    scores = MIN_SCORE + points_matrix(frozen, data.frame).sum(axis=1)
    return Scorecard(
        tables=frozen,
        base=MIN_SCORE,
        allocation=allocation,
        weights=dict(weights),
        learned_shares=fit.learned_shares(),
        calibration=calibrate(scores, data.bad),
        dropped=dict(fit.dropped),
        c=fit.c,
    )
