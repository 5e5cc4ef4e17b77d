"""Cross-validation with fixed folds: the numbers a model card reports.

Repeated stratified k-fold with a fixed seed, so every model (ours and the peers in
bench/models.py) sees the same folds. Each fold's model is scored on the rows it did not see;
the first repeat's out-of-fold scores, which cover every row once, give the band table and the
calibration table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from rich.progress import Progress

from pentascore.model.dataset import Dataset
from pentascore.model.metrics import (
    BandRow,
    auc,
    band_table,
    bands_monotone,
    brier,
    calibration_table,
    ks,
)
from pentascore.model.scale import Calibration

# A model family for validation: train on a dataset, return ``{variant: scorer}`` where a
# scorer gives integer scores and the calibration fitted on the training rows.
Variant = tuple[Callable[[Dataset], np.ndarray], Calibration]
Family = Callable[[Dataset, int], dict[str, Variant]]


def folds(
    bad: np.ndarray, k: int = 5, repeats: int = 2, seed: int = 2026
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) row positions of every fold, the same for every model."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(len(bad)), bad))


@dataclass
class Metrics:
    """Fold-by-fold metrics of one variant, and the out-of-fold tables."""

    auc: list[float] = field(default_factory=list)
    ks: list[float] = field(default_factory=list)
    brier: list[float] = field(default_factory=list)
    bands: list[BandRow] = field(default_factory=list)
    calibration: list[tuple[float, float, int]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        auc_mean = float(np.mean(self.auc))
        return {
            "auc": round(auc_mean, 6),
            "auc_sd": round(float(np.std(self.auc, ddof=1)) if len(self.auc) > 1 else 0.0, 6),
            "gini": round(2 * auc_mean - 1, 6),
            "ks": round(float(np.mean(self.ks)), 6),
            "brier": round(float(np.mean(self.brier)), 6),
            "folds": len(self.auc),
            "bands": [
                {"band": b.band, "people": b.people, "bads": b.bads, "bad_rate": b.bad_rate}
                for b in self.bands
            ],
            "bands_monotone": bands_monotone(self.bands),
            "calibration": [
                {"predicted": p, "observed": o, "people": n} for p, o, n in self.calibration
            ],
        }


def cross_validate(
    data: Dataset,
    family: Family,
    *,
    k: int = 5,
    repeats: int = 2,
    seed: int = 2026,
    progress: Progress | None = None,
) -> dict[str, Metrics]:
    """Metrics of every variant the family trains, over the same folds."""
    splits = folds(data.bad, k, repeats, seed)
    results: dict[str, Metrics] = {}
    out_of_fold: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    task = progress.add_task("cross-validating", total=len(splits)) if progress else None
    for i, (train_rows, test_rows) in enumerate(splits):
        test = data.subset(test_rows)
        for name, (scorer, calibration) in family(data.subset(train_rows), seed + i).items():
            scores = scorer(test)
            metrics = results.setdefault(name, Metrics())
            metrics.auc.append(auc(test.bad, -scores))
            metrics.ks.append(ks(test.bad, -scores))
            probability = calibration.probability(scores)
            metrics.brier.append(brier(test.bad, probability))
            if i < k:
                oof_scores, oof_probability = out_of_fold.setdefault(
                    name, (np.zeros(len(data.bad), np.int64), np.zeros(len(data.bad)))
                )
                oof_scores[test_rows] = scores
                oof_probability[test_rows] = probability
        if progress is not None and task is not None:
            progress.advance(task)
    for name, metrics in results.items():
        oof_scores, oof_probability = out_of_fold[name]
        metrics.bands = band_table(data.bad, oof_scores)
        metrics.calibration = calibration_table(data.bad, oof_probability)
    return results


def holdout(scores: np.ndarray, bad: np.ndarray, calibration: Calibration) -> Metrics:
    """Metrics of one model on rows it never saw, e.g. a later as-of date (out of time)."""
    probability = calibration.probability(scores)
    return Metrics(
        auc=[auc(bad, -scores)],
        ks=[ks(bad, -scores)],
        brier=[brier(bad, probability)],
        bands=band_table(bad, scores),
        calibration=calibration_table(bad, probability),
    )
