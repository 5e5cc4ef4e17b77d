"""Labels computed from the lake agree with the simulator's ground truth, person by person."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.dates import add_months, parse_as_of
from pentascore.core.errors import ConfigError
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.sim import SimulationConfig, populate_lake, simulate
from tests.conftest import KEY


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ParquetLake, Path, datetime]:
    root = tmp_path_factory.mktemp("sim")
    population = simulate(SimulationConfig(users=1500, months=12, seed=11))
    lake = ParquetLake(root / "lake")
    clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    populate_lake(population, lake, key=KEY, work_dir=root / "sim", clock=clock)
    return lake, root / "sim" / "truth" / "users.parquet", population.config.as_of


def test_labels_from_the_lake_equal_the_truth(
    simulated: tuple[ParquetLake, Path, datetime],
) -> None:
    lake, truth_file, as_of = simulated
    labels = DuckDBEngine().labels(lake, as_of, add_months(as_of, 12)).to_pylist()
    truth = {
        pseudonymize_value(KEY, "user_id", r["user_id"]): int(r["default_12m"])
        for r in pq.read_table(truth_file).to_pylist()
    }
    got = {r["user_id"]: r["bad"] for r in labels}
    # Everyone who had an event before the as-of date is labelled, exactly as the truth says.
    assert set(got) <= set(truth)
    assert got == {user: truth[user] for user in got}
    assert 0.05 <= sum(got.values()) / len(got) <= 0.20


def test_features_exist_for_everyone_labelled(
    simulated: tuple[ParquetLake, Path, datetime],
) -> None:
    lake, _, as_of = simulated
    engine = DuckDBEngine()
    features = engine.features(lake, as_of)
    labels = engine.labels(lake, as_of, add_months(as_of, 12))
    assert features.column("user_id").to_pylist() == labels.column("user_id").to_pylist()
    assert features.column_names == ["user_id", *(f.name for f in CATALOG)]


def test_dates() -> None:
    assert add_months(datetime(2025, 1, 31, tzinfo=UTC), 1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 10, 1, tzinfo=UTC), 12) == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_as_of("2025-10-01") == datetime(2025, 10, 1, tzinfo=UTC)
    assert parse_as_of("2025-10-01T08:00:00+08:00") == datetime(2025, 10, 1, tzinfo=UTC)
    with pytest.raises(ConfigError):
        parse_as_of("2025-10-01T08:00:00")
    with pytest.raises(ConfigError):
        parse_as_of("October")
