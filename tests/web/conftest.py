"""A second model for the registry pages: a GBDT trained on the scored home's lake, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.model.dataset import lake_dataset
from pentascore.model.train import ModelKind, Trained, train
from tests.conftest import ScoredHome


@pytest.fixture(scope="session")
def challenger(scored_home: ScoredHome) -> Trained:
    engine = DuckDBEngine(threads=1)
    lake = ParquetLake(scored_home.root / "lake")
    earlier = scored_home.as_of - timedelta(days=180)
    data = lake_dataset(
        engine.features(lake, earlier),
        engine.labels(lake, earlier, scored_home.as_of),
        source="web tests",
    )
    return train(data, kind=ModelKind.GBDT, cv=2, repeats=1, seed=5)
