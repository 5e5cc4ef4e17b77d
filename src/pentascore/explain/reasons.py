"""Reason codes: the features that cost a person the most points, in plain words.

A feature's *points lost* is how many more points the model would give the person if that
feature alone took its best attainable value:

- scorecard: the best regular bin's points (a value seen in training, not Missing or Other)
  minus the person's bin's points, never below zero;
- GBDT: the person rescored with the feature set to each candidate value (the reference
  population's quantiles), best minus now.

Connections are not an adverse reason by default (nobody should be told to drop friends), and
inquiries come as a fifth reason when they cost points, after the four largest others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pentascore.core.types import Dimension
from pentascore.events.schema import EventType
from pentascore.features.catalog import CATALOG
from pentascore.features.spec import FeatureSpec
from pentascore.model.scorecard import Scorecard
from pentascore.model.train import Model

MAX_REASONS = 4
_CANDIDATES = 33


@dataclass(frozen=True)
class Reason:
    feature: str
    dimension: Dimension
    text: str
    points_lost: int
    value: float | None


def headroom(model: Model, frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Points lost per row and model feature (rows x features, int64, >= 0)."""
    if isinstance(model, Scorecard):
        points = model.feature_points(frame)
        # The best value a person can reach: a regular bin seen in training, not Missing or
        # Other (having no data is not advice).
        best = np.array(
            [
                max(
                    (p for i, p in enumerate(t.points[: t.missing_bin]) if t.counts[i] > 0),
                    default=0,
                )
                for t in model.tables
            ],
            dtype=np.int64,
        )
        lost: np.ndarray = np.maximum(best[None, :] - points, 0)
        return lost
    now, _ = model.score(frame)
    out = np.zeros((len(frame), len(model.feature_names)), dtype=np.int64)
    for j, name in enumerate(model.feature_names):
        values = pd.Series(reference[name]).dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        candidates = np.unique(np.quantile(values, np.linspace(0, 1, _CANDIDATES)))
        best = now.copy()
        for value in candidates:
            moved = frame.copy()
            moved[name] = value
            scores, _ = model.score(moved)
            best = np.maximum(best, scores)
        out[:, j] = best - now
    return out


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "no"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def reasons(
    model: Model,
    row: pd.Series,
    lost: np.ndarray,
    specs: Sequence[FeatureSpec] = CATALOG,
    *,
    connections: bool = False,
) -> list[Reason]:
    """The person's adverse reasons, largest loss first: up to four, and inquiries as a fifth
    when they cost points but are not among the four (as FICO lists them)."""
    by_name = {s.name: s for s in specs}
    found: list[Reason] = []
    for j, name in enumerate(model.feature_names):
        spec = by_name.get(name)
        if spec is None or lost[j] <= 0:
            continue
        if spec.dimension is Dimension.CONNECTIONS and not connections:
            continue
        value = row.get(name)
        number = None if value is None or pd.isna(value) else float(value)
        found.append(
            Reason(
                feature=name,
                dimension=spec.dimension,
                text=spec.sentence.format(value=_number(number)),
                points_lost=int(lost[j]),
                value=number,
            )
        )
    found.sort(key=lambda r: (-r.points_lost, r.feature))
    inquiry = {s.name for s in specs if s.sources == (EventType.INQUIRY,)}
    main = found[:MAX_REASONS]
    if any(r.feature in inquiry for r in main):
        return main
    return main + [r for r in found if r.feature in inquiry][:1]
