from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pentascore.core.clock import FixedClock
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.features.spark_engine import SparkEngine
from pentascore.lake import ParquetLake
from pentascore.model.dataset import lake_dataset
from pentascore.model.registry import ModelRegistry
from pentascore.model.train import train
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import score_people
from pentascore.sim import SimulationConfig, populate_lake, simulate

KEY = b"test-pseudonym-key-0123456789abcdef"
# The service's clock in tests: a month after the scored home's as-of date.
NOW = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)


# Tests on the Spark engine are marked ``spark`` and skipped where Java is missing.
needs_java = pytest.mark.skipif(
    shutil.which("java") is None, reason="the Spark engine needs Java (17 or later) on PATH"
)
# Tests run many short queries on small lakes, where the JVM's optimizing compiler costs more
# than it saves: the quick one alone roughly halves the time of the first queries. It changes
# how fast the JVM runs, never what the queries compute.
SPARK_TEST_CONF = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkEngine]:
    """One Spark engine in local mode for the whole test session (a session takes seconds to
    start), shared by the feature and the scoring tests."""
    engine = SparkEngine(master="local[2]", app_name="pentascore-tests", conf=SPARK_TEST_CONF)
    yield engine
    engine.stop()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def lake(tmp_path: Path) -> ParquetLake:
    return ParquetLake(tmp_path / "home" / "lake")


@dataclass(frozen=True)
class ScoredHome:
    root: Path
    as_of: datetime
    users: list[str]  # the platform's ids of the people scored, as partners know them
    everyone: list[str]  # the platform's ids of every simulated person
    scores: pa.Table  # the batch run, by pseudonym
    joined: dict[str, datetime]  # pseudonym -> when the simulated person joined


@pytest.fixture(scope="session")
def scored_home(tmp_path_factory: pytest.TempPathFactory) -> ScoredHome:
    root = tmp_path_factory.mktemp("scored-home")
    population = simulate(SimulationConfig(users=400, months=12, seed=11))
    as_of = population.config.as_of
    lake = ParquetLake(root / "lake")
    populate_lake(population, lake, key=KEY, work_dir=root / "sim", clock=FixedClock(as_of))
    shutil.rmtree(root / "sim")
    engine = DuckDBEngine(threads=1)
    earlier = as_of - timedelta(days=180)
    data = lake_dataset(
        engine.features(lake, earlier),
        engine.labels(lake, earlier, as_of),
        source="service tests",
    )
    trained = train(data, cv=2, repeats=1, seed=3)
    registry = ModelRegistry(root / "models")
    doc = registry.register(trained, as_of, {"as_of": earlier.date().isoformat()})
    registry.promote(doc.version, as_of)
    model, _ = registry.load()
    history = ScoreHistory(root / "scores")
    scores = score_people(engine, lake, history, model, doc.version, as_of)
    history.write(scores)
    scored = set(scores.column("user_id").to_pylist())
    users = [
        u
        for u in population.users.column("user_id").to_pylist()
        if pseudonymize_value(KEY, "user_id", u) in scored
    ]
    joined = {
        pseudonymize_value(KEY, "user_id", u): t
        for u, t in zip(
            population.users.column("user_id").to_pylist(),
            population.users.column("joined_at").to_pylist(),
            strict=True,
        )
    }
    return ScoredHome(
        root=root,
        as_of=as_of,
        users=users,
        everyone=population.users.column("user_id").to_pylist(),
        scores=scores,
        joined=joined,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # With two workers (make test), the Spark tests run on one of them: one JVM, not two.
    for item in items:
        if item.get_closest_marker("spark") is not None:
            item.add_marker(pytest.mark.xdist_group("spark"))
