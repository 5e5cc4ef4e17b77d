"""Bins: a numeric column of unknown direction with few values is a set of codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pentascore.core.types import Dimension
from pentascore.features.spec import Direction
from pentascore.model.binning import fit_bins
from pentascore.model.dataset import Column, Dataset, Kind


def _dataset(values: dict[str, np.ndarray], bad: np.ndarray, columns: list[Column]) -> Dataset:
    return Dataset("synthetic", tuple(columns), pd.DataFrame(values), bad.astype(np.int8), "-")


def _status_codes(rows: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A repayment-status-like code: -2 and 0 are safe, -1 a little riskier, 1.. risky; 7 is
    rare (0.5% of the rows)."""
    rng = np.random.default_rng(seed)
    codes = np.array([-2, -1, 0, 1, 2, 7])
    shares = np.array([0.2, 0.2, 0.4, 0.12, 0.075, 0.005])
    risk = {-2: 0.10, -1: 0.20, 0: 0.10, 1: 0.35, 2: 0.70, 7: 0.80}
    x = rng.choice(codes, size=rows, p=shares)
    bad = rng.random(rows) < np.vectorize(risk.get)(x)
    return x.astype(np.float64), bad


def test_codes_get_bins_in_their_own_risk_order() -> None:
    x, bad = _status_codes()
    status = Column("status", Dimension.CREDIT_HISTORY, Kind.NUMERIC)
    (table,) = fit_bins(_dataset({"status": x}, bad, [status]))
    # Every common code its own bin (cuts half-way between codes); the rare 7 joins its
    # neighbour, since a bin holds at least a prebin's share of the rows.
    assert table.splits == (-1.5, -0.5, 0.5, 1.5)
    regular = np.array(table.woe[: table.n_bins - 2])
    # -1 is riskier than both -2 and 0: the bins follow a risk order that is not monotone.
    assert regular[1] < regular[0] and regular[1] < regular[2]


def test_a_known_direction_keeps_monotone_bins_over_codes() -> None:
    x, bad = _status_codes()
    status = Column("status", Dimension.CREDIT_HISTORY, Kind.NUMERIC, Direction.INCREASES_RISK)
    (table,) = fit_bins(_dataset({"status": x}, bad, [status]))
    regular = np.array(table.woe[: table.n_bins - 2])
    assert np.all(np.diff(regular) <= 0), regular


def test_many_values_of_unknown_direction_are_not_codes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=6000)
    # Risk falls and rises again along x, with a zigzag between -1 and 1 that a free order
    # would chase.
    wiggle = 0.15 * np.sign(np.sin(12 * x)) * (np.abs(x) < 1)
    bad = rng.random(6000) < np.clip(0.1 + 0.1 * x**2 + wiggle, 0.01, 0.99)
    amount = Column("amount", Dimension.FULFILLMENT_CAPACITY, Kind.NUMERIC)
    (table,) = fit_bins(_dataset({"amount": x}, bad, [amount]))
    regular = np.array(table.woe[: table.n_bins - 2])
    # optbinning's "auto" trend: at most one change of direction (a peak or a valley).
    turns = np.count_nonzero(np.diff(np.sign(np.diff(regular))) != 0)
    assert turns <= 1, regular
