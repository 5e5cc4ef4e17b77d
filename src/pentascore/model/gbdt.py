"""The challenger: gradient-boosted trees (LightGBM) whose scores decompose exactly, too.

Monotone constraints come from the same directions as the scorecard's bins. LightGBM's
TreeSHAP contributions split each person's log-odds into one part per column plus the
population's expected value; on the 350-950 scale the expected value becomes the base and
each part becomes that column's points, rounded so that they still add up to the score.

Scaling. The training population's log-odds range maps linearly onto 351-949, and the base
is made a whole number by a shift of under half a point. A new person beyond that range is
capped at the end of the scale with every column's points shrunk in proportion, so the points
still add up to the score and the order of people is kept. (The trees' attainable range, each
tree's lowest leaf to its highest summed, would need no cap but squeezes real people into a
narrow strip of the scale.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pentascore.core.errors import ModelError
from pentascore.core.types import Dimension
from pentascore.features.spec import Direction
from pentascore.model.dataset import Column, Dataset, Kind
from pentascore.model.scale import MAX_SCORE, MIN_SCORE, Calibration, calibrate, round_rows

_CONSTRAINT = {
    Direction.INCREASES_RISK: 1,
    Direction.DECREASES_RISK: -1,
    Direction.UNKNOWN: 0,
}

# Defaults chosen for tabular credit data: shallow trees, a slow learning rate, and the number
# of trees found by inner cross-validation with early stopping.
PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 20.0,
    "min_data_per_group": 50,
    "verbose": -1,
}
# Below this many rows a second thread does not pay: OpenMP's waiting threads make a small fit
# up to fifty times slower when the machine is busy with anything else.
THREADED_ROWS = 100_000
# Two capacities, the one with the better inner cross-validated AUC wins: small trees suit
# small, noisy tables (German credit: 0.787 against 0.777 AUC with only the larger), larger
# ones tables with sharp interactions (HMEQ: 0.967 against 0.965 with only the smaller).
CAPACITIES: tuple[dict[str, int], ...] = (
    {"num_leaves": 15, "max_bin": 127},
    {"num_leaves": 31, "max_bin": 255},
)
MAX_TREES = 2000
EARLY_STOPPING = 50
INNER_FOLDS = 4


@dataclass(frozen=True)
class Gbdt:
    """A LightGBM model (its own text format) on the 350-950 scale."""

    columns: tuple[Column, ...]
    categories: dict[str, tuple[str, ...]]
    booster_text: str
    factor: float
    offset: float
    base: int
    calibration: Calibration
    learned_shares: dict[Dimension, float]
    radar: dict[Dimension, tuple[float, float]]
    trees: int

    kind = "gbdt"

    @cached_property
    def booster(self) -> Any:
        """The trees, parsed once from their text."""
        import lightgbm as lgb

        return lgb.Booster(model_str=self.booster_text)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def feature_dimensions(self) -> list[Dimension]:
        return [c.dimension for c in self.columns]

    def score(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Scores and the points behind them: ``score == base + points.sum(axis=1)``."""
        return self.points_of(_contributions(self, frame))

    def points_of(self, contributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and points from LightGBM's contributions (the last column is the expected
        value, which the base stands for)."""
        parts = cap_parts(-self.factor * contributions[:, :-1], self.base)
        points, sums = round_rows(parts)
        return self.base + sums, points


def cap_parts(parts: np.ndarray, base: int) -> np.ndarray:
    """Shrink each row's parts in proportion so that ``base + sum`` stays within 350-950."""
    total = parts.sum(axis=1)
    room = np.where(total > 0, MAX_SCORE - base, base - MIN_SCORE).astype(np.float64)
    over = np.abs(total) > room
    shrink = np.ones_like(total)
    shrink[over] = room[over] / np.abs(total[over])
    capped: np.ndarray = parts * shrink[:, None]
    return capped


def _contributions(model: Gbdt, frame: pd.DataFrame) -> np.ndarray:
    x = _design(model.columns, model.categories, frame)
    out = model.booster.predict(x, pred_contrib=True)
    return np.asarray(out, dtype=np.float64)


def _design(
    columns: tuple[Column, ...], categories: dict[str, tuple[str, ...]], frame: pd.DataFrame
) -> pd.DataFrame:
    """The frame LightGBM reads: numbers as float64, categories with the training's codes
    (an unseen category reads as missing)."""
    out = {}
    for c in columns:
        if c.kind is Kind.CATEGORICAL:
            known = list(categories[c.name])
            values = frame[c.name].astype(object)
            # A category never seen in training is treated like a missing value.
            out[c.name] = pd.Categorical(values.where(values.isin(known)), categories=known)
        else:
            out[c.name] = frame[c.name].astype("float64").to_numpy()
    return pd.DataFrame(out)


def fit_gbdt(data: Dataset, *, seed: int = 0, params: dict[str, object] | None = None) -> Gbdt:
    """Trains the challenger on ``data`` and puts it on the 350-950 scale."""
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold

    logging.getLogger("lightgbm").setLevel(logging.ERROR)
    if data.bad.min() == data.bad.max():
        raise ModelError("training needs both good and bad outcomes.")
    categories = {
        c.name: tuple(sorted(str(v) for v in data.frame[c.name].dropna().unique()))
        for c in data.columns
        if c.kind is Kind.CATEGORICAL
    }
    x = _design(data.columns, categories, data.frame)
    settings = {
        **PARAMS,
        "num_threads": 1 if len(data.bad) < THREADED_ROWS else 0,
        **(params or {}),
        "seed": seed,
        "monotone_constraints": [
            _CONSTRAINT[c.direction] if c.kind is Kind.NUMERIC else 0 for c in data.columns
        ],
        "monotone_constraints_method": "advanced",
    }
    best: tuple[float, int, dict[str, object], Any] | None = None
    for capacity in CAPACITIES:
        candidate = {**settings, **capacity, **(params or {})}
        train = lgb.Dataset(x, label=data.bad, params={"max_bin": candidate["max_bin"]})
        folds = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
        history = lgb.cv(
            {**candidate, "metric": "auc"},
            train,
            num_boost_round=MAX_TREES,
            folds=folds.split(np.zeros(len(data.bad)), data.bad),
            callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
        )
        aucs = history["valid auc-mean"]
        assert isinstance(aucs, list)
        # The history ends at the best round: its last AUC is this capacity's best.
        if best is None or float(aucs[-1]) > best[0]:
            best = (float(aucs[-1]), len(aucs), candidate, train)
    assert best is not None
    _, trees, settings, train = best
    booster = lgb.train(settings, train, num_boost_round=trees)
    raw = booster.predict(x, raw_score=True)
    low, high = float(np.min(raw)), float(np.max(raw))
    if high <= low:
        raise ModelError("the trees predict the same risk for everyone; nothing to score.")
    # Log-odds of bad: the highest maps to the lowest score.
    factor = (MAX_SCORE - MIN_SCORE - 2) / (high - low)
    offset = MIN_SCORE + 1 + factor * high
    text = booster.model_to_string()
    draft = Gbdt(
        columns=data.columns,
        categories=categories,
        booster_text=text,
        factor=factor,
        offset=offset,
        base=0,
        calibration=Calibration(0.0, 0.0),
        learned_shares={},
        radar={},
        trees=trees,
    )
    contributions = _contributions(draft, data.frame)
    expected = float(contributions[0, -1])
    base_exact = offset - factor * expected
    base = round(base_exact)
    # Shift the scale by under half a point so the base is whole (see the module docstring).
    offset += base - base_exact
    shaped = replace(draft, offset=offset, base=base)
    # The shift changes the offset only, not the contributions: no need to predict again.
    scores, points = shaped.points_of(contributions)
    return replace(
        shaped,
        calibration=calibrate(scores, data.bad),
        learned_shares=_shares(data.columns, contributions[:, :-1]),
        radar=_radar(data.columns, points),
    )


def _shares(columns: tuple[Column, ...], contributions: np.ndarray) -> dict[Dimension, float]:
    """Each dimension's share of the mean absolute contribution."""
    weight = np.abs(contributions).mean(axis=0)
    total = float(weight.sum())
    shares = dict.fromkeys(Dimension, 0.0)
    for c, w in zip(columns, weight, strict=True):
        shares[c.dimension] += float(w) / total if total else 0.0
    return shares


def _radar(columns: tuple[Column, ...], points: np.ndarray) -> dict[Dimension, tuple[float, float]]:
    """The training population's lowest and highest points per dimension (0 and 100 on the
    radar)."""
    radar = {}
    for dimension in Dimension:
        mask = [c.dimension == dimension for c in columns]
        if any(mask):
            total = points[:, mask].sum(axis=1)
            radar[dimension] = (float(total.min()), float(total.max()))
    return radar
