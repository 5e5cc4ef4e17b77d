"""Scoring everyone on DuckDB and on Spark (local mode), with the same points code.

    python -m bench.spark_scoring --home DIR --as-of 2025-10-01   # a home with a champion
    python -m bench.spark_scoring --users 20000                    # builds one first

Three ways to score a home's lake as of a date, each in a fresh process so that its time and
peak memory are its own: `score_people` on DuckDB; on Spark the way it was before scoring
moved onto Spark (features and depth collected to the driver, `score_table` there); and
`score_people` on Spark (features, the thin-file join and `score_table` on the executors
through ``mapInArrow``, only the scores collected). The Spark session's start is timed apart.
The scores of every way must equal DuckDB's. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench._report import write_section
from pentascore.core.clock import FixedClock
from pentascore.core.dates import parse_as_of
from pentascore.lake import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.scores.history import ScoreHistory

KEY = b"benchmark-pseudonym-key-0123456789"
WAYS = {
    "duckdb": "DuckDB: `score_people`",
    "spark-driver": "Spark, scored in the driver (before): features collected, `score_table`",
    "spark": "Spark end to end: `score_people` (`mapInArrow` on the executors)",
}


def build_home(root: Path, users: int) -> datetime:
    """A home with a lake of ``users`` simulated people and a champion scorecard."""
    from pentascore.features.duckdb_engine import DuckDBEngine
    from pentascore.model.dataset import lake_dataset
    from pentascore.model.train import train
    from pentascore.sim import SimulationConfig, populate_lake, simulate

    population = simulate(SimulationConfig(users=users, months=24, seed=0))
    as_of = population.config.as_of
    lake = ParquetLake(root / "lake")
    clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    populate_lake(population, lake, key=KEY, work_dir=root / "sim", clock=clock)
    engine = DuckDBEngine()
    earlier = as_of - timedelta(days=180)
    data = lake_dataset(
        engine.features(lake, earlier), engine.labels(lake, earlier, as_of), source="bench"
    )
    registry = ModelRegistry(root / "models")
    doc = registry.register(train(data, cv=2, repeats=1), as_of, {"as_of": f"{earlier:%F}"})
    registry.promote(doc.version, as_of)
    return as_of


def _child(way: str, home: str, as_of: str, out: str) -> None:
    from pentascore.features.duckdb_engine import DuckDBEngine
    from pentascore.features.engine import FeatureEngine
    from pentascore.features.spark_engine import SparkEngine
    from pentascore.scores.batch import score_table
    from pentascore.scores.run import DEEP_FILE, features_as_of, score_people

    root, at = Path(home), datetime.fromisoformat(as_of)
    model, doc = ModelRegistry(root / "models").load()
    lake, history = ParquetLake(root / "lake"), ScoreHistory(root / "scores")
    engine: FeatureEngine
    session = 0.0
    if way == "duckdb":
        engine = DuckDBEngine()
    else:
        spark = SparkEngine(master="local[2]", conf={"spark.driver.memory": "6g"})
        started = time.perf_counter()
        spark.session  # noqa: B018 - starts the JVM, timed apart
        session = time.perf_counter() - started
        engine = spark
    started = time.perf_counter()
    if way == "spark-driver":
        features = features_as_of(engine, lake, history, at)
        depth = engine.depth(lake, at).to_pylist()
        deep = {
            d["user_id"]
            for d in depth
            if d["file_age_days"] >= DEEP_FILE.min_file_age_days
            and d["last_activity_days"] <= DEEP_FILE.max_quiet_days
        }
        keep = pa.array([u in deep for u in features.column("user_id").to_pylist()])
        scores = score_table(model, doc.version, features.filter(keep), at.date())
    else:
        scores = score_people(engine, lake, history, model, doc.version, at)
    seconds = time.perf_counter() - started
    pq.write_table(scores, out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(
        json.dumps(
            {"seconds": seconds, "session": session, "peak_mb": peak_kb / 1024, "rows": len(scores)}
        )
    )


def measure(way: str, home: Path, as_of: datetime, out: Path) -> dict[str, float | str]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.spark_scoring",
            "--child",
            way,
            str(home),
            as_of.isoformat(),
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": last[:300]}
    result: dict[str, float | str] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, help="a home with a champion model")
    parser.add_argument("--as-of", help="the date to score as of (with --home)")
    parser.add_argument("--users", type=int, default=20_000, help="without --home")
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="pentascore-bench-") as tmp:
        work = Path(tmp)
        if args.home is not None:
            if not args.as_of:
                parser.error("--home needs --as-of")
            home, as_of = args.home, parse_as_of(args.as_of)
        else:
            home, as_of = work / "home", build_home(work / "home", args.users)
        lake = ParquetLake(home / "lake")
        stats = lake.stats()
        results, tables = {}, {}
        for way in WAYS:
            out = work / f"{way}.parquet"
            results[way] = measure(way, home, as_of, out)
            if "error" not in results[way]:
                tables[way] = pq.read_table(out)
            print(way, results[way], flush=True)
    want = tables.get("duckdb")
    base = results["duckdb"].get("seconds")
    rows = []
    for way, r in results.items():
        if "error" in r:
            rows.append(f"| {WAYS[way]} | failed: {r['error']} | | | | |")
            continue
        seconds, session, peak = float(r["seconds"]), float(r["session"]), float(r["peak_mb"])
        same = "yes" if want is not None and tables[way].equals(want) else "**no**"
        ratio = f"{seconds / float(base):.1f}x" if isinstance(base, float) else ""
        start = f"{session:.1f} s" if session else "-"
        cells = [WAYS[way], f"{seconds:.1f} s", ratio, start, f"{peak:,.0f} MB", same]
        rows.append("| " + " | ".join(cells) + " |")
    people = int(results["duckdb"].get("rows", 0)) if "error" not in results["duckdb"] else 0
    body = "\n".join(
        [
            f"{stats.users:,} people, {stats.events:,} events; {people:,} scored (deep files) "
            f"as of {as_of:%Y-%m-%d} with the champion scorecard. Each way runs in its own "
            "process; Spark in local mode (local[2]). *time* is features, the thin-file rule "
            "and scoring; the Spark session's start (a JVM) is apart. Peak memory is the "
            "Python process's (max RSS); Spark's JVM is a separate process and is not "
            "counted. *same* compares every column of every row with DuckDB's scores.",
            "",
            "| way | time | / DuckDB | Spark start | peak memory | same |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("Scoring on Spark", body)
    print(body)


if __name__ == "__main__":
    main()
