"""Benchmark of the population simulator: simulate, then write Parquet, timed separately.

    python -m bench.simulate [--users 100000 --months 24 --seed 0]

Writes the "Simulator" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench._report import write_section
from pentascore.sim import SimulationConfig, simulate, write_population


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the files here (default: a temp folder)"
    )
    args = parser.parse_args(argv)

    config = SimulationConfig(users=args.users, months=args.months, seed=args.seed)
    start = time.perf_counter()
    population = simulate(config)
    simulated = time.perf_counter() - start

    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="pentascore-sim-"))
    try:
        start = time.perf_counter()
        meta = write_population(population, out, "parquet")
        written = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (out / "events").iterdir())
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    events = population.events.num_rows
    months = config.months + config.horizon_months
    timings = [("simulate", simulated), ("write Parquet", written), ("total", simulated + written)]
    by_type = ", ".join(f"{t} {n:,}" for t, n in meta["by_type"].items())
    body = "\n".join(
        [
            f"`python -m bench.simulate --users {config.users} --months {config.months}"
            f" --seed {config.seed}`: {config.users:,} users, {config.months} months of history"
            f" and a {config.horizon_months}-month horizon.",
            "",
            "| step | seconds | users/s | events/s |",
            "|---|---:|---:|---:|",
            *(
                f"| {step} | {secs:.1f} | {config.users / secs:,.0f} | {events / secs:,.0f} |"
                for step, secs in timings
            ),
            "",
            f"- events: {events:,} ({events / config.users / months:.2f} per user and month),"
            f" {len(meta['files'])} Parquet files, {size / 1e6:,.0f} MB",
            f"- default rate: {population.default_rate:.2%}"
            f" (target {config.target_default_rate:.0%})",
            f"- events by type: {by_type}",
        ]
    )
    print(body)
    print(f"\nwrote {write_section('Simulator', body)}")


if __name__ == "__main__":
    main()
