"""The feature step at scale, beside a bare DuckDB scan of the same lake columns.

    python -m bench.features [--base-users 100000] [--copies 10] [--spark]

The simulator holds a population in memory, so a 1,000,000-person lake is built as ``copies``
copies of a simulated ``base-users`` population, each with its own ids (friendships stay within
a copy). Then, each in a fresh process so peak memory is its own: a bare DuckDB scan of the
lake columns the features read, the DuckDB feature step, and optionally the Spark one
(local[2]). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench._report import write_section
from pentascore.core.clock import FixedClock
from pentascore.lake import ParquetLake
from pentascore.sim import SimulationConfig, populate_lake, simulate

KEY = b"benchmark-pseudonym-key-0123456789"
IDS = ("event_id", "supersedes")
# Pseudonymized identifiers: a copy's are hashed again, so that they keep the pseudonyms' form
# (32 hex characters, which the service's database columns are sized for).
PSEUDONYMS = ("user_id", "counterparty_id", "account_id")
SCANNED = (
    "user_id, type, ts, supersedes, void, due_ts, paid_ts, days_past_due, amount, balance, "
    "credit_limit, kind, scenario, outcome, merchant_category, counterparty_id, action, "
    "account_id, channel, direction, repaired, event_id"
)


def build_lake(
    root: Path, base_users: int, copies: int, timings: dict[str, float] | None = None
) -> tuple[ParquetLake, datetime, int]:
    """``copies`` id-disjoint copies of a simulated ``base_users``-person population in the
    lake ``root/lake`` (the population itself stays in the lake ``root/base``); returns the
    lake, the simulation's as-of date and the events. ``timings``, when given, receives the
    seconds of each step: ``simulate``, ``ingest`` (the base population written as Parquet and
    ingested), ``copies``."""
    times = timings if timings is not None else {}
    started = time.perf_counter()
    population = simulate(SimulationConfig(users=base_users, months=24, seed=5))
    times["simulate"] = time.perf_counter() - started
    times["base_events"] = population.events.num_rows
    base = ParquetLake(root / "base")
    clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    started = time.perf_counter()
    populate_lake(population, base, key=KEY, work_dir=root / "sim", clock=clock)
    times["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    lake = ParquetLake(root / "lake")
    batch = lake.events_dir / "batch-000001-bench"
    batch.mkdir(parents=True)
    files = ", ".join(f"'{f}'" for f in base.files())
    renamed = ", ".join(
        [
            *(f"{c} || '-' || k AS {c}" for c in IDS),
            *(f"md5({c} || '-' || k) AS {c}" for c in PSEUDONYMS),
        ]
    )
    with duckdb.connect() as con:
        for k in range(copies):
            con.execute(
                f"COPY (SELECT * REPLACE ({renamed}) FROM read_parquet([{files}]), "
                f"(SELECT {k} AS k)) TO '{batch}/part-{k:03d}.parquet' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
            )
    times["copies"] = time.perf_counter() - started
    events = lake.stats().events
    return lake, population.config.as_of, events


def bare_scan(lake: ParquetLake) -> int:
    """The baseline: DuckDB reads every lake column the features use (``SCANNED``) and counts
    people; returns how many."""
    with duckdb.connect() as con:
        files = ", ".join(f"'{f}'" for f in lake.files())
        # max() of every column makes DuckDB read each one (a count alone reads none).
        maxima = ", ".join(f"max({c.strip()})" for c in SCANNED.split(","))
        row = con.execute(
            f"SELECT count(*), count(DISTINCT user_id), {maxima} FROM read_parquet([{files}])"
        ).fetchone()
    assert row is not None
    return int(row[1])


def _child(kind: str, lake_root: str, as_of: str) -> None:
    lake = ParquetLake(Path(lake_root))
    at = datetime.fromisoformat(as_of)
    start = time.perf_counter()
    if kind == "scan":
        bare_scan(lake)
        rows = 0
    elif kind == "spark":
        from pentascore.features.spark_engine import SparkEngine

        # The whole feature table comes back to the driver: give it room.
        engine = SparkEngine(master="local[2]", conf={"spark.driver.memory": "8g"})
        rows = engine.features(lake, at).num_rows
    else:
        from pentascore.features.duckdb_engine import DuckDBEngine

        rows = DuckDBEngine().features(lake, at).num_rows
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rows": rows}))


def measure(kind: str, lake: ParquetLake, as_of: datetime) -> dict[str, float | str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.features",
            "--child",
            kind,
            str(lake.root),
            as_of.isoformat(),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": last[:300]}
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-users", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="pentascore-bench-") as tmp:
        started = time.perf_counter()
        lake, as_of, events = build_lake(Path(tmp), args.base_users, args.copies)
        built = time.perf_counter() - started
        kinds = ["scan", "duckdb"] + (["spark"] if args.spark else [])
        results = {}
        for kind in kinds:
            results[kind] = measure(kind, lake, as_of)
            print(kind, results[kind], flush=True)
    scan = float(results["scan"]["seconds"])
    people = args.base_users * args.copies
    rows = []
    for kind, r in results.items():
        if "error" in r:
            rows.append(f"| {kind} | failed: {r['error']} | | |")
            continue
        seconds, peak = float(r["seconds"]), float(r["peak_mb"])
        rows.append(f"| {kind} | {seconds:.1f} s | {peak:,.0f} MB | {seconds / scan:.1f}x |")
    body = "\n".join(
        [
            f"{people:,} people ({args.copies} id-disjoint copies of a simulated "
            f"{args.base_users:,}-person population), {events:,} events, features as of "
            f"{as_of:%Y-%m-%d}; lake built in {built:.0f} s. *scan* reads the "
            f"{len(SCANNED.split(','))} lake columns the features use (max of each) and "
            "counts people "
            "(DuckDB); each step runs in its own process. Target: the DuckDB feature step "
            "within 3x of the scan. Peak memory is the step's Python process (max RSS, which "
            "on Linux starts from the benchmark's own size when it forks, here the scan's "
            "figure); Spark's JVM is a separate process and is not counted.",
            "",
            "| step | time | peak memory | / scan |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    write_section("Features", body)
    print(body)


if __name__ == "__main__":
    main()
