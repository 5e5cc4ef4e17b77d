"""Training: cross-validate a model family on a dataset, then fit it on all of it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
from rich.progress import Progress

from pentascore.core.errors import ConfigError
from pentascore.core.types import DEFAULT_WEIGHTS, Dimension
from pentascore.model.dataset import Dataset
from pentascore.model.gbdt import Gbdt, fit_gbdt
from pentascore.model.scorecard import Allocation, Scorecard, allocate, fit_scorecard
from pentascore.model.validate import Family, Variant, cross_validate, holdout

Model = Scorecard | Gbdt


def radar_range(model: Model) -> dict[Dimension, tuple[float, float]]:
    """The points of each dimension that are 0 and 100 on the radar."""
    if isinstance(model, Scorecard):
        return {d: (0.0, float(top)) for d, top in model.dimension_max().items() if top > 0}
    return dict(model.radar)


def radar(model: Model, points: dict[Dimension, np.ndarray]) -> dict[Dimension, np.ndarray]:
    """Each dimension's points on 0-100 for the radar chart (whole numbers)."""
    ranges = radar_range(model)
    out = {}
    for d, values in points.items():
        low, high = ranges.get(d, (0.0, 0.0))
        share = (values - low) / (high - low) if high > low else np.zeros(len(values))
        out[d] = np.rint(np.clip(share, 0.0, 1.0) * 100).astype(np.int64)
    return out


class ModelKind(StrEnum):
    SCORECARD = "scorecard"
    GBDT = "gbdt"


@dataclass(frozen=True)
class Trained:
    """A model fitted on the whole dataset, with its cross-validated metrics.

    ``metrics`` holds one summary per variant: for a scorecard both allocations, so the card
    can compare them; ``headline`` names the variant the model is.
    """

    model: Model
    metrics: dict[str, dict[str, Any]]
    headline: str
    validation: dict[str, Any]
    data: dict[str, Any]


def _scorer(model: Model) -> Variant:
    return (lambda d: model.score(d.frame)[0], model.calibration)


def scorecard_family(weights: dict[Dimension, float]) -> Family:
    def family(train: Dataset, seed: int) -> dict[str, Variant]:
        fit = fit_scorecard(train, seed=seed)
        return {a.value: _scorer(allocate(fit, train, a, weights)) for a in Allocation}

    return family


def gbdt_family(train: Dataset, seed: int) -> dict[str, Variant]:
    return {"gbdt": _scorer(fit_gbdt(train, seed=seed))}


def train(
    data: Dataset,
    *,
    kind: ModelKind = ModelKind.SCORECARD,
    allocation: Allocation = Allocation.PUBLISHED,
    weights: dict[Dimension, float] = DEFAULT_WEIGHTS,
    cv: int = 5,
    repeats: int = 2,
    seed: int = 2026,
    progress: Progress | None = None,
) -> Trained:
    """Cross-validates ``kind`` on ``data`` (``cv`` folds x ``repeats``), then fits it on all."""
    if cv < 2:
        raise ConfigError(f"cv must be at least 2 folds; got {cv}.")
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1; got {repeats}.")
    smaller = int(min(data.bad.sum(), len(data.bad) - data.bad.sum()))
    if smaller < cv:
        raise ConfigError(
            f"{cv} folds need at least {cv} goods and {cv} bads; the data has {smaller}."
        )
    family = scorecard_family(weights) if kind is ModelKind.SCORECARD else gbdt_family
    results = cross_validate(data, family, k=cv, repeats=repeats, seed=seed, progress=progress)
    task = progress.add_task("fitting on all rows", total=1) if progress else None
    model: Model
    if kind is ModelKind.SCORECARD:
        model = allocate(fit_scorecard(data, seed=seed), data, allocation, weights)
        headline = allocation.value
    else:
        model = fit_gbdt(data, seed=seed)
        headline = "gbdt"
    if progress is not None and task is not None:
        progress.advance(task)
    return Trained(
        model=model,
        metrics={name: m.summary() for name, m in results.items()},
        headline=headline,
        validation={
            "method": "repeated stratified k-fold",
            "k": cv,
            "repeats": repeats,
            "seed": seed,
        },
        data={
            "source": data.source,
            "data_hash": data.data_hash,
            "rows": len(data.bad),
            "bad_rate": round(data.bad_rate, 6),
            "bads": int(np.sum(data.bad)),
        },
    )


def validate_out_of_time(trained: Trained, later: Dataset, label: str) -> Trained:
    """Adds the model's metrics on ``later`` (people as of a later date) as the variant
    ``label``; the card shows it beside the cross-validated ones."""
    scores, _ = trained.model.score(later.frame)
    summary = holdout(scores, later.bad, trained.model.calibration).summary()
    return replace(trained, metrics={**trained.metrics, label: summary})
