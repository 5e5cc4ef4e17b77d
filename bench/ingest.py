"""Ingest throughput from Parquet, CSV and JSON lines, beside a bare DuckDB read of the same files.

    python -m bench.ingest [--users 140000] [--months 24] [--formats parquet,csv,jsonl]

Simulates a population (about 10 million events by default), writes it in each format, then
for each format measures, in the same run: a bare DuckDB read of every column of the files
into a table, and `pentascore ingest` of the same files into a fresh lake (validate,
pseudonymize, stage, de-duplicate against the lake, publish). For Parquet it also measures a
plain copy: the files read by pyarrow as ingest reads them and written back as Parquet with the
lake's settings, on two threads, which is the least any ingest that stores Parquet must do.
Each step reports its wall time and the CPU-seconds of the process (every thread). Results go
to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow.parquet as pq

from bench._report import write_section
from pentascore.core.clock import FixedClock
from pentascore.events.readers import DEFAULT_CHUNK_ROWS, read_chunks
from pentascore.events.validate import ROW
from pentascore.lake import ParquetLake, ingest_files
from pentascore.lake.store import PARQUET_WRITE_OPTIONS
from pentascore.sim import SimulationConfig, simulate, write_population

_T = TypeVar("_T")
KEY = b"benchmark-pseudonym-key-0123456789"
READERS = {
    "parquet": "read_parquet({files})",
    "csv": "read_csv({files}, all_varchar = true, header = true)",
    "jsonl": "read_json({files}, format = 'newline_delimited')",
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(step: Callable[[], _T]) -> tuple[_T, float, float]:
    """What ``step`` returns, with its wall seconds and the CPU-seconds of this process (every
    thread)."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    result = step()
    return result, time.perf_counter() - start, _cpu_seconds() - cpu


def bare_read(files: list[Path], fmt: str) -> tuple[float, float]:
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    with duckdb.connect() as con:
        _, seconds, cpu = measured(
            lambda: con.execute(
                f"CREATE TABLE t AS SELECT * FROM {READERS[fmt].format(files=listed)}"
            )
        )
    return seconds, cpu


def plain_copy(files: list[Path], out: Path) -> tuple[float, float]:
    """Parquet files read in chunks by ingest's own reader, each chunk written by a second
    thread as a Parquet file with the lake's compression, row groups, dictionaries and
    statistics."""
    out.mkdir()

    def copy() -> None:
        pending: Future[None] | None = None
        with ThreadPoolExecutor(1) as writer, duckdb.connect() as con:
            for i, path in enumerate(files):
                for j, chunk in enumerate(read_chunks(path, "parquet", con, DEFAULT_CHUNK_ROWS)):
                    if pending is not None:
                        pending.result()
                    pending = writer.submit(
                        pq.write_table,
                        chunk.table.drop_columns([ROW]),
                        out / f"{i:04d}-{j:04d}.parquet",
                        **PARQUET_WRITE_OPTIONS,
                    )
            if pending is not None:
                pending.result()

    try:
        _, seconds, cpu = measured(copy)
    finally:
        shutil.rmtree(out)
    return seconds, cpu


def ingest_once(folder: Path, work: Path) -> tuple[float, float, int]:
    lake = ParquetLake(work / "lake")
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    report, seconds, cpu = measured(
        lambda: ingest_files(
            [folder], lake=lake, key=KEY, rejects_dir=work / "rejects", clock=clock
        )
    )
    assert report.rejected == 0, report
    shutil.rmtree(work / "lake")
    return seconds, cpu, report.accepted


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
            bare, bare_cpu = bare_read(files, fmt)
            copy = plain_copy(files, work / "copy") if fmt == "parquet" else None
            seconds, cpu, accepted = ingest_once(out / "events", work)
            assert accepted == events
            rows.append(
                " | ".join(
                    [
                        f"| {fmt}",
                        f"{size / 1e6:,.0f} MB",
                        f"{bare:.1f} s ({bare_cpu:.1f})",
                        f"{copy[0]:.1f} s ({copy[1]:.1f})" if copy else "-",
                        f"{seconds:.1f} s ({cpu:.1f})",
                        f"**{events / seconds:,.0f}**",
                        f"{cpu * 1e6 / events:.2f}",
                        f"{seconds / bare:.1f}x",
                        f"{seconds / copy[0]:.1f}x |" if copy else "- |",
                    ]
                )
            )
            print(rows[-1], flush=True)
            shutil.rmtree(out)
    body = "\n".join(
        [
            f"{events:,} simulated events ({args.users:,} users x {args.months} months plus the "
            "12-month outcome window), one batch per format. *bare read* is DuckDB reading every "
            "column of the same files into a table; *plain copy* (Parquet only) reads the files "
            "as ingest does and writes them back as Parquet with the lake's settings, on two "
            "threads: the least any ingest that stores Parquet does. *ingest* is `pentascore "
            "ingest` into a new lake: read, validate every field, pseudonymize, stage, "
            "de-duplicate, publish. Times are wall seconds with the process's CPU-seconds (all "
            "threads) in brackets.",
            "Targets: Parquet >= 1,000,000 events/s; CSV and JSON lines >= 250,000 events/s.",
            "",
            "| format | size | bare read | plain copy | ingest | events/s "
            "| ingest CPU-s per M events | ingest / bare | ingest / copy |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    if not args.no_report:
        write_section("Ingest", body)


if __name__ == "__main__":
    main()
