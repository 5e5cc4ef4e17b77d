"""The scorecard: optimal bins, weight of evidence, logistic regression, integer points per bin.

Fitting (`fit_scorecard`) learns the bins and each bin's points, in log-odds. Allocating
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
from pentascore.model.binning import BinningOptions, BinTable, bin_indices, fit_bins, shrunk_woe
from pentascore.model.dataset import Dataset
from pentascore.model.scale import MIN_SCORE, SPAN, Calibration, calibrate, largest_remainder

# The regression's L2 strength C (it minimises the sum of the log-losses + |theta|^2 / 2C, see
# `_Ladders`) is the one of this grid with the best inner cross-validated AUC.
C_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
INNER_FOLDS = 4


class Allocation(StrEnum):
    PUBLISHED = "published"
    LEARNED = "learned"


@dataclass(frozen=True)
class ScorecardFit:
    """Bins and each bin's points in log-odds of good (the regression), before allocation."""

    tables: tuple[BinTable, ...]
    log_odds: tuple[tuple[float, ...], ...]
    intercept: float
    c: float
    dropped: dict[str, str] = field(default_factory=dict)

    def raw_points(self) -> list[np.ndarray]:
        """Per column, each bin's log-odds of good, its worst bin at 0."""
        out = []
        for points in self.log_odds:
            raw = np.asarray(points, dtype=np.float64)
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
    """Bins every column, then fits every bin's points in one regression.

    The points of a column's bins follow the order of the bins' weight of evidence (a riskier
    bin never gets more points), so monotone bins give monotone points; inside that order the
    regression sets them jointly with the other columns'. Its strength comes from inner
    cross-validation. A column left with the same points in every bin is dropped.
    """
    if data.bad.min() == data.bad.max():
        raise ModelError("training needs both good and bad outcomes.")
    tables = fit_bins(data, options or BinningOptions())
    dropped: dict[str, str] = {}
    for table in list(tables):
        if table.iv < 1e-6:
            dropped[table.column.name] = "no information (one bin, or the same risk in every bin)"
            tables.remove(table)
    if not tables:
        raise ModelError("no column carries information about the outcome.")
    log_odds, intercept, c = _regression(tables, data, seed)
    keep = [k for k, points in enumerate(log_odds) if np.ptp(points) > 1e-9]
    for k, table in enumerate(tables):
        if k not in keep:
            dropped[table.column.name] = "no weight once the other columns are known"
    if not keep:
        raise ModelError("no column carries information about the outcome.")
    return ScorecardFit(
        tables=tuple(tables[k] for k in keep),
        log_odds=tuple(tuple(float(p) for p in log_odds[k]) for k in keep),
        intercept=intercept,
        c=c,
        dropped=dropped,
    )


class _Ladders:
    """Every column's bins as the rungs of a ladder, from the lowest weight of evidence up.

    Climbing from one rung to the next adds a step of points that is never negative, so a
    bin's points follow its risk. Each step is ``sqrt(gap) * theta`` with ``gap`` the rise in
    evidence between the two rungs: the L2 penalty on ``theta`` makes a large rise in evidence
    cheap to follow and keeps bins of equal evidence at equal points.
    """

    def __init__(self, tables: list[BinTable], index: np.ndarray, woes: list[np.ndarray]):
        from scipy import sparse

        sizes = [t.n_bins for t in tables]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n, columns = index.shape
        # rows x bins: which bin each row is in, for every column.
        self.rows = sparse.csr_matrix(
            (
                np.ones(n * columns),
                (index + offsets[:-1]).ravel(),
                np.arange(0, n * columns + 1, columns),
            ),
            shape=(n, int(offsets[-1])),
        )
        # bins x steps: the steps each bin stands above.
        lift: list[np.ndarray] = []
        for woe, start in zip(woes, offsets[:-1], strict=True):
            order = np.argsort(woe, kind="stable")
            gaps = np.diff(woe[order])
            for rung in np.flatnonzero(gaps > 0):
                column = np.zeros(int(offsets[-1]))
                column[start + order[rung + 1 :]] = np.sqrt(gaps[rung])
                lift.append(column)
        self.lift = np.column_stack(lift) if lift else np.zeros((int(offsets[-1]), 0))
        self.offsets = offsets

    @property
    def n_steps(self) -> int:
        return self.lift.shape[1]

    def bin_points(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(self.lift @ theta)

    def margin(self, theta: np.ndarray) -> np.ndarray:
        """Each row's log-odds of good, without the intercept."""
        return np.asarray(self.rows @ self.bin_points(theta))

    def fit(self, good: np.ndarray, c: float, start: np.ndarray | None = None) -> np.ndarray:
        """The intercept and ``theta`` (never negative) of the penalised maximum likelihood;
        ``start`` warm-starts the search (from the fit with the next stronger penalty)."""
        from scipy.optimize import minimize
        from scipy.special import expit

        sign = np.where(good == 1, 1.0, -1.0)

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            theta = w[1:]
            z = sign * (w[0] + self.margin(theta))
            residual = -sign * expit(-z)
            gradient = self.lift.T @ np.asarray(self.rows.T @ residual) + theta / c
            loss = float(np.logaddexp(0.0, -z).sum() + theta @ theta / (2 * c))
            return loss, np.concatenate([[residual.sum()], gradient])

        x0 = np.zeros(self.n_steps + 1) if start is None else start
        bounds = [(None, None)] + [(0.0, None)] * self.n_steps
        result = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds)
        return np.asarray(result.x)


def _regression(
    tables: list[BinTable], data: Dataset, seed: int
) -> tuple[list[np.ndarray], float, float]:
    """Each bin's points (log-odds of good) and the intercept, from one logistic regression
    over every column's ladder of bins (see `_Ladders`), with the L2 strength whose inner
    cross-validated AUC is best. Inside each inner fold the bins keep their cuts but their
    evidence, and so the order of the rungs, is recounted on the fold's training rows: counted
    on every row, it would favour the weakest penalty."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    good = 1 - data.bad.astype(np.int64)
    index = np.column_stack([bin_indices(t, data.frame[t.column.name]) for t in tables])
    grid = sorted(C_GRID)
    splitter = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
    folds = list(splitter.split(index, good))
    scores = np.empty((len(grid), len(folds)))
    for j, (train, test) in enumerate(folds):
        woes = [_recount(t, index[train, k], good[train]) for k, t in enumerate(tables)]
        fitting, held_out = (
            _Ladders(tables, index[train], woes),
            _Ladders(tables, index[test], woes),
        )
        w = None
        for i, c in enumerate(grid):
            w = fitting.fit(good[train], c, w)
            scores[i, j] = roc_auc_score(good[test], held_out.margin(w[1:]))
    c = grid[int(np.argmax(scores.mean(axis=1)))]
    ladders = _Ladders(tables, index, [np.asarray(t.woe) for t in tables])
    w = ladders.fit(good, c)
    points = ladders.bin_points(w[1:])
    out = [points[a:b] for a, b in zip(ladders.offsets[:-1], ladders.offsets[1:], strict=True)]
    return out, float(w[0]), c


def _recount(table: BinTable, index: np.ndarray, good: np.ndarray) -> np.ndarray:
    counts = np.bincount(index, minlength=table.n_bins)
    bads = np.bincount(index, weights=1.0 - good, minlength=table.n_bins)
    return np.asarray(shrunk_woe(counts, bads))


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
