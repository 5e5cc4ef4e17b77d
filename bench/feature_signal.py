"""How much each dimension's features say about the outcome, on a simulated population.

    python -m bench.feature_signal [--users 50000]

Simulates a population, ingests it, computes the features and labels as of the simulation's
as-of date, and reports the cross-validated AUC (stratified 5-fold) of a plain logistic
regression on each dimension's features alone and on all of them. A sanity measure of the
features, not the model: issue 4 builds the scorecard. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench._report import write_section
from pentascore.core.clock import FixedClock
from pentascore.core.dates import add_months
from pentascore.core.types import Dimension
from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.sim import SimulationConfig, populate_lake, simulate

KEY = b"benchmark-pseudonym-key-0123456789"


def auc(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(model, x, y, cv=folds, scoring="roc_auc")
    return float(scores.mean()), float(scores.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    args = parser.parse_args()
    population = simulate(SimulationConfig(users=args.users, months=24, seed=21))
    as_of = population.config.as_of
    with tempfile.TemporaryDirectory(prefix="pentascore-signal-") as tmp:
        root = Path(tmp)
        lake = ParquetLake(root / "lake")
        clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
        populate_lake(population, lake, key=KEY, work_dir=root / "sim", clock=clock)
        engine = DuckDBEngine()
        features = engine.features(lake, as_of)
        labels = engine.labels(lake, as_of, add_months(as_of, 12))
    y = np.asarray(labels.column("bad").to_pylist())
    rows = []
    groups = [(d.value, [f.name for f in CATALOG if f.dimension == d]) for d in Dimension]
    groups.append(("all five", [f.name for f in CATALOG]))
    for name, columns in groups:
        x = np.column_stack(
            [features.column(c).to_numpy(zero_copy_only=False).astype(float) for c in columns]
        )
        mean, sd = auc(x, y)
        rows.append(f"| {name} | {len(columns)} | {mean:.3f} | {sd:.3f} |")
        print(rows[-1], flush=True)
    body = "\n".join(
        [
            f"{features.num_rows:,} simulated people with an event before {as_of:%Y-%m-%d}, "
            f"{y.mean():.1%} of them 90+ days past due within 12 months. AUC of a plain "
            "logistic regression (median imputation, standardized, stratified 5-fold) on each "
            "dimension's features alone and on all of them: every dimension carries signal.",
            "",
            "| features of | count | AUC mean | AUC sd |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    write_section("Feature signal", body)


if __name__ == "__main__":
    main()
