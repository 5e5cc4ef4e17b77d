"""The Parquet ingest path: what lands in the lake is exactly the simulated events with each
identifier replaced by the service's pseudonym, however the batch is cut into chunks; the lake
files keep their schema, and the statistics readers prune by; Arrow's memory pool is restored."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pentascore.core.clock import FixedClock
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import FIELDS, LAKE_SCHEMA, PII_FIELDS
from pentascore.lake import ParquetLake, ingest_files
from pentascore.sim import SimulationConfig, simulate, write_population
from tests.conftest import KEY

CLOCK = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
POPULATION = simulate(SimulationConfig(users=40, months=3, seed=5))


def _expected() -> list[dict[str, object]]:
    """The simulated events as the lake must hold them, pseudonymized one value at a time."""
    rows = POPULATION.events.select([f.name for f in FIELDS]).to_pylist()
    for row in rows:
        row["void"] = bool(row["void"])  # stored as false when not sent
        for field in PII_FIELDS:
            if row[field] is not None:
                row[field] = pseudonymize_value(KEY, field, row[field])
    return sorted(rows, key=lambda r: str(r["event_id"]))


EXPECTED = _expected()


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunk_rows=st.integers(min_value=7, max_value=5_000))
def test_the_lake_holds_the_events_pseudonymized_however_they_are_chunked(
    tmp_path_factory: object, chunk_rows: int
) -> None:
    # Small chunks: identifiers are met again and again, matched against earlier chunks and
    # (counterparties) against the users of the same chunk, or hashed anew.
    tmp = tmp_path_factory.mktemp("lake")  # type: ignore[attr-defined]
    write_population(POPULATION, tmp / "in", fmt="parquet")
    lake = ParquetLake(tmp / "lake")
    report = ingest_files(
        [tmp / "in" / "events"],
        lake=lake,
        key=KEY,
        rejects_dir=tmp / "rejects",
        clock=CLOCK,
        chunk_rows=chunk_rows,
    )
    assert (report.accepted, report.rejected, report.duplicates) == (len(EXPECTED), 0, 0)
    stored = lake.read().select([f.name for f in FIELDS]).to_pylist()
    assert sorted(stored, key=lambda r: str(r["event_id"])) == EXPECTED


def test_lake_files_keep_the_schema_and_the_statistics_readers_prune_by(tmp_path: Path) -> None:
    write_population(POPULATION, tmp_path / "in", fmt="parquet")
    lake = ParquetLake(tmp_path / "lake")
    ingest_files(
        [tmp_path / "in" / "events"],
        lake=lake,
        key=KEY,
        rejects_dir=tmp_path / "rejects",
        clock=CLOCK,
    )
    (path,) = lake.files()
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow == LAKE_SCHEMA
    table = parquet.read()
    group = parquet.metadata.row_group(0)
    for name in ("event_id", "user_id", "type", "ts", "supersedes", "amount", "batch_id"):
        stats = group.column(LAKE_SCHEMA.get_field_index(name)).statistics
        column = table.column(name).slice(0, group.num_rows)
        assert stats is not None and stats.has_min_max, name
        low, high = pc.min_max(column).values()
        assert (stats.min, stats.max) == (low.as_py(), high.as_py()), name
    # Pseudonyms of addresses have values across the whole range in every row group.
    assert group.column(LAKE_SCHEMA.get_field_index("address")).statistics is None


def test_arrow_allocates_from_jemalloc_unless_the_operator_chose_a_pool() -> None:
    def pool(env: dict[str, str]) -> str:
        script = "import pentascore, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
        return subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    assert pool(env) == ("jemalloc" if sys.platform == "linux" else "system")
    assert pool(env | {"ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"
