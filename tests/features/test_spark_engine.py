"""The Spark engine gives the DuckDB engine's tables on the same lake.

Both run the one query of `pentascore.features.sql`, each in its dialect. On a simulated lake
(with corrections, and a second batch of voids) the feature and label tables must be equal:
the same people in the same order, integer-valued columns exactly, other floats to 1e-9
relative, nulls in the same places. Spark runs in local mode, in one session shared by every
test (`spark` fixture in tests/conftest.py); it needs Java, and these tests are skipped without it.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.dates import add_months
from pentascore.core.errors import ConfigError
from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.features.spark_engine import SparkEngine
from pentascore.lake import ParquetLake, ingest_chunks, records_chunk
from pentascore.sim import SimulationConfig, populate_lake, simulate
from tests.conftest import KEY, needs_java

USERS, MONTHS, SEED = 400, 12, 23


class SimLake:
    def __init__(self, lake: ParquetLake, as_of: datetime) -> None:
        self.lake = lake
        self.as_of = as_of  # the simulation's as-of date; events run 12 months past it


@pytest.fixture(scope="module")
def sim_lake(tmp_path_factory: pytest.TempPathFactory) -> SimLake:
    root = tmp_path_factory.mktemp("spark-lake")
    population = simulate(SimulationConfig(users=USERS, months=MONTHS, seed=SEED))
    lake = ParquetLake(root / "lake")
    clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    populate_lake(population, lake, key=KEY, work_dir=root / "sim", clock=clock)
    # A second batch (a second Parquet file) voiding a few events of every type, some before
    # and some after the as-of dates below.
    events = population.events
    corrected = set(pc.drop_null(events.column("supersedes")).to_pylist())
    voids: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in events.select(["event_id", "user_id", "type", "ts", "supersedes"]).to_pylist():
        if row["supersedes"] is not None or row["event_id"] in corrected:
            continue
        if seen.get(row["type"], 0) >= 4:
            continue
        seen[row["type"]] = seen.get(row["type"], 0) + 1
        voids.append(
            {
                "event_id": f"void-{len(voids)}",
                "user_id": row["user_id"],
                "type": row["type"],
                "ts": (row["ts"] + timedelta(days=20)).isoformat(),
                "supersedes": row["event_id"],
                "void": True,
            }
        )
    report = ingest_chunks(
        [records_chunk(voids, "voids")],
        lake=lake,
        key=KEY,
        rejects_dir=root / "rejects",
        clock=clock,
        strict=True,
    )
    assert report.accepted == len(voids) > 0
    assert len(lake.files()) == 2
    return SimLake(lake, population.config.as_of)


def assert_same_table(want: pa.Table, got: pa.Table) -> None:
    """Equal schemas and people; integer-valued columns exactly, floats to 1e-9 relative."""
    assert got.schema == want.schema
    assert got.column("user_id").to_pylist() == want.column("user_id").to_pylist()
    for name in want.column_names[1:]:
        expected, actual = want.column(name).to_pylist(), got.column(name).to_pylist()
        integral = all(float(v).is_integer() for v in expected if v is not None)
        for user, a, b in zip(want.column("user_id").to_pylist(), expected, actual, strict=True):
            where = f"{name} of {user}: duckdb {a!r}, spark {b!r}"
            if a is None or b is None:
                assert a is None and b is None, where
            elif integral:
                assert a == b, where
            else:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), where


def scores_for(features: pa.Table) -> pa.Table:
    """Last run's scores: most people of the table (not all), and some unknown to the lake."""
    users = features.column("user_id").to_pylist()
    kept = [u for i, u in enumerate(users) if i % 5 != 0] + ["nobody-1", "nobody-2"]
    return pa.table(
        {
            "user_id": pa.array(kept, pa.string()),
            "score": pa.array([350.0 + (i * 7919 % 600) + i / 7 for i in range(len(kept))]),
        }
    )


@pytest.mark.spark
@needs_java
def test_features_and_labels_equal_duckdb(sim_lake: SimLake, spark: SparkEngine) -> None:
    duckdb = DuckDBEngine()
    lake, as_of = sim_lake.lake, sim_lake.as_of
    early = as_of - timedelta(days=300)  # two months into the history: most events are later
    for at in (early, as_of):
        want = duckdb.features(lake, at)
        assert want.num_rows > 100
        assert_same_table(want, spark.features(lake, at))
        until = add_months(at, 12)
        labels = duckdb.labels(lake, at, until)
        assert 0 < sum(labels.column("bad").to_pylist()) < labels.num_rows
        assert spark.labels(lake, at, until).equals(labels)


@pytest.mark.spark
@needs_java
def test_features_with_previous_scores_equal_duckdb(sim_lake: SimLake, spark: SparkEngine) -> None:
    duckdb = DuckDBEngine()
    at = sim_lake.as_of - timedelta(days=90)
    scores = scores_for(duckdb.features(sim_lake.lake, at, specs=CATALOG[:1]))
    want = duckdb.features(sim_lake.lake, at, previous_scores=scores)
    assert pc.count(want.column("cn_friends_mean_score")).as_py() > 50
    assert_same_table(want, spark.features(sim_lake.lake, at, previous_scores=scores))


@pytest.mark.spark
@needs_java
def test_depth_chosen_people_and_extra_events_equal_duckdb(
    sim_lake: SimLake, spark: SparkEngine
) -> None:
    duckdb = DuckDBEngine()
    lake, at = sim_lake.lake, sim_lake.as_of
    assert spark.depth(lake, at).equals(duckdb.depth(lake, at))
    people = duckdb.features(lake, at, specs=CATALOG[:1]).column("user_id").to_pylist()[:7]
    # Hypothetical events: a donation by each of these people, ten days after the as-of date.
    shifted = pa.Table.from_pylist(
        [
            {
                "event_id": f"extra-{i}",
                "user_id": user,
                "type": "charity",
                "kind": "donation",
                "amount": 500,
                "currency": "CNY",
                "ts": at + timedelta(days=10),
                "batch_id": "extra",
                "ingested_at": at,
            }
            for i, user in enumerate(people)
        ],
        schema=LAKE_SCHEMA,
    )
    later = at + timedelta(days=40)
    want = duckdb.features(lake, later, users=people, extra=shifted)
    assert want.num_rows == len(people)
    assert_same_table(want, spark.features(lake, later, users=people, extra=shifted))
    assert not want.equals(duckdb.features(lake, later, users=people))


@pytest.mark.spark
@needs_java
def test_an_empty_lake_gives_empty_tables(tmp_path: Path, spark: SparkEngine) -> None:
    lake = ParquetLake(tmp_path / "lake")
    at = datetime(2025, 10, 1, tzinfo=UTC)
    want = DuckDBEngine().features(lake, at)
    got = spark.features(lake, at)
    assert got.num_rows == want.num_rows == 0
    assert got.schema == want.schema
    want_labels = DuckDBEngine().labels(lake, at, add_months(at, 12))
    got_labels = spark.labels(lake, at, add_months(at, 12))
    assert got_labels.num_rows == want_labels.num_rows == 0
    assert got_labels.schema == want_labels.schema


def test_the_engine_starts_nothing_until_asked() -> None:
    engine = SparkEngine(master="spark://example:7077", app_name="x", conf={"a": "b"})
    assert (engine.name, engine.master, engine.app_name, engine.conf) == (
        "spark",
        "spark://example:7077",
        "x",
        {"a": "b"},
    )
    engine.stop()  # nothing started: nothing to stop


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"pentascore\[spark\]"):
        SparkEngine().features(ParquetLake(Path("unused")), datetime(2025, 1, 1, tzinfo=UTC))
