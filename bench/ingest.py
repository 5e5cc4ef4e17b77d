"""Ingest throughput from Parquet, CSV and JSON lines, beside a bare DuckDB read of the same files.

    python -m bench.ingest [--users 140000] [--months 24] [--formats parquet,csv,jsonl]

Simulates a population (about 10 million events by default), writes it in each format, then
for each format measures, in the same run: a bare DuckDB read of every column of the files
into a table (the floor), and `pentascore ingest` of the same files into a fresh lake (validate,
pseudonymize, stage, de-duplicate against the lake, publish). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench._report import write_section
from pentascore.core.clock import FixedClock
from pentascore.lake import ParquetLake, ingest_files
from pentascore.sim import SimulationConfig, simulate, write_population

KEY = b"benchmark-pseudonym-key-0123456789"
READERS = {
    "parquet": "read_parquet({files})",
    "csv": "read_csv({files}, all_varchar = true, header = true)",
    "jsonl": "read_json({files}, format = 'newline_delimited')",
}


def bare_read(files: list[Path], fmt: str) -> float:
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    with duckdb.connect() as con:
        start = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM {READERS[fmt].format(files=listed)}")
        return time.perf_counter() - start


def ingest_once(folder: Path, work: Path) -> tuple[float, int]:
    lake = ParquetLake(work / "lake")
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    start = time.perf_counter()
    report = ingest_files([folder], lake=lake, key=KEY, rejects_dir=work / "rejects", clock=clock)
    seconds = time.perf_counter() - start
    assert report.rejected == 0, report
    shutil.rmtree(work / "lake")
    return seconds, report.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=140_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--formats", default="parquet,csv,jsonl")
    parser.add_argument(
        "--no-report", action="store_true", help="print the rows only; leave docs/ as it is"
    )
    args = parser.parse_args()

    population = simulate(SimulationConfig(users=args.users, months=args.months, seed=1))
    events = population.events.num_rows
    rows = []
    with tempfile.TemporaryDirectory(prefix="pentascore-bench-") as tmp:
        work = Path(tmp)
        for fmt in args.formats.split(","):
            out = work / fmt
            write_population(population, out, fmt=fmt)  # type: ignore[arg-type]
            files = sorted((out / "events").iterdir())
            size = sum(f.stat().st_size for f in files)
            bare = bare_read(files, fmt)
            seconds, accepted = ingest_once(out / "events", work)
            assert accepted == events
            rows.append(
                f"| {fmt} | {events:,} | {size / 1e6:,.0f} MB | {bare:.1f} s "
                f"| {seconds:.1f} s | {events / seconds:,.0f} | {seconds / bare:.1f}x |"
            )
            print(rows[-1], flush=True)
            shutil.rmtree(out)
    body = "\n".join(
        [
            f"{events:,} simulated events ({args.users:,} users x {args.months} months plus the "
            "12-month outcome window), one batch per format. *bare read* is DuckDB reading every "
            "column of the same files into a table; *ingest* is `pentascore ingest` into a new "
            "lake: read, validate every field, pseudonymize, stage, de-duplicate, publish.",
            "Targets: Parquet >= 1,000,000 events/s; CSV and JSON lines >= 250,000 events/s.",
            "",
            "| format | events | size | bare read | ingest | events/s | ingest / bare |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    if not args.no_report:
        write_section("Ingest", body)


if __name__ == "__main__":
    main()
