"""The `pentascore` command: a thin shell over the library.

Each command parses its arguments, calls one library function and prints the result, with
Rich for people and ``--json`` for programs. Exit codes: 0 done, 1 done but some rows were
rejected (or a strict batch was refused), 2 usage errors (bad arguments, missing files).
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from pentascore.cli import explain_commands, model_commands, monitor_commands, service_commands
from pentascore.cli.common import (
    Context,
    as_of_and_engine,
    ctx_of,
    emit_json,
    fail,
    write_table,
)
from pentascore.core.clock import SystemClock
from pentascore.core.dates import add_months
from pentascore.core.errors import ConfigError, IngestError, LakeError, StrictIngestError
from pentascore.core.settings import Settings
from pentascore.core.types import Dimension
from pentascore.lake import ParquetLake, ingest_files
from pentascore.lake.ingest import input_bytes

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="pentascore",
    help="Behavioral credit scoring: events -> lake -> features -> model -> scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lake_app = typer.Typer(help="Look into the event lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
model_commands.register(app)
service_commands.register(app)
explain_commands.register(app)
monitor_commands.register(app)


@app.callback()
def main_callback(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Home folder (lake, state, keys). Env PENTASCORE_HOME; default ./.pentascore.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """pentascore: an explainable 350-950 credit score over five dimensions."""
    errors = Console(stderr=True)
    if verbose:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
        )
    try:
        settings = Settings() if home is None else Settings(home=home)
    except (ValueError, ConfigError) as exc:
        raise fail(errors, f"settings: {exc}") from exc
    ctx.obj = Context(settings=settings, console=Console(), errors=errors)


@app.command()
def simulate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write events/ and truth/ into.")],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 20_000,
    months: Annotated[
        int, typer.Option(min=1, help="Months of history before the as-of date.")
    ] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="File format of the events: parquet, csv or jsonl.")
    ] = "parquet",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Simulate a population: events to ingest under OUT/events, ground truth under OUT/truth."""
    from pentascore.sim import SimulationConfig, write_population
    from pentascore.sim import simulate as run_simulation

    c = ctx_of(ctx)
    if fmt not in ("parquet", "csv", "jsonl"):
        raise fail(c.errors, f"--format must be parquet, csv or jsonl; got {fmt!r}.")
    try:
        config = SimulationConfig(users=users, months=months, seed=seed)
    except (ValueError, ConfigError) as exc:
        raise fail(c.errors, str(exc)) from exc
    with c.errors.status(f"simulating {users:,} users x {months} months ..."):
        population = run_simulation(config)
    total = population.events.num_rows
    with _progress(c.errors, as_json, "writing events", total, unit="events") as (bar, task):
        meta = write_population(
            population,
            out,
            fmt=_format(fmt),
            progress=lambda n: bar.advance(task, n),
        )
    if as_json:
        emit_json(meta)
        return
    c.console.print(
        f"Simulated [bold]{users:,}[/bold] users: [bold]{meta['events']:,}[/bold] events in "
        f"{out / 'events'}; truth in {out / 'truth'} (as of {meta['as_of']}, "
        f"default rate {meta['default_rate']:.1%} within {meta['horizon_months']} months)."
    )


def _format(fmt: str) -> Literal["parquet", "csv", "jsonl"]:
    if fmt == "csv":
        return "csv"
    if fmt == "jsonl":
        return "jsonl"
    return "parquet"


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders of events; - reads JSON lines from stdin."),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, jsonl or parquet; default: from each extension."),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Reject the whole batch at the first bad row.")
    ] = False,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows read per chunk.")] = 500_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ingest events into the lake as one atomic, idempotent batch."""
    c = ctx_of(ctx)
    if fmt is not None and fmt not in ("csv", "jsonl", "parquet"):
        raise fail(c.errors, f"--format must be csv, jsonl or parquet; got {fmt!r}.")
    forced = None if fmt is None else _format(fmt)
    settings = c.settings
    try:
        total = input_bytes(paths, forced)
        key = settings.resolve_pseudonym_key()
        with _progress(c.errors, as_json, "ingesting", total, unit="bytes") as (bar, task):
            report = ingest_files(
                paths,
                lake=ParquetLake(settings.lake_dir),
                key=key,
                rejects_dir=settings.rejects_dir,
                clock=SystemClock(),
                fmt=forced,
                strict=strict,
                chunk_rows=chunk_rows,
                progress=lambda n: bar.advance(task, n),
            )
    except StrictIngestError as exc:
        if as_json:
            emit_json(
                {
                    "accepted": 0,
                    "duplicates": 0,
                    "rejected": 1,
                    "rejects_file": None,
                    "error": str(exc),
                }
            )
        raise fail(c.errors, str(exc), code=1) from exc
    except (IngestError, ConfigError, LakeError) as exc:
        raise fail(c.errors, str(exc)) from exc
    if as_json:
        emit_json(report.to_dict())
    else:
        c.console.print(
            f"Batch {report.batch_id}: [green]{report.accepted:,} accepted[/green], "
            f"{report.duplicates:,} duplicates, "
            + (
                f"[red]{report.rejected:,} rejected[/red] (see {report.rejects_file})"
                if report.rejected
                else "0 rejected"
            )
            + "."
        )
    if report.rejected:
        raise typer.Exit(1)


@lake_app.command("stats")
def lake_stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many events of each type the lake holds, for how many users, over what time."""
    c = ctx_of(ctx)
    stats = ParquetLake(c.settings.lake_dir).stats()
    if as_json:
        emit_json(stats.to_dict())
        return
    table = Table(title=f"Lake at {c.settings.lake_dir}")
    table.add_column("event type")
    table.add_column("events", justify="right")
    for name, count in stats.by_type.items():
        table.add_row(name, f"{count:,}")
    c.console.print(table)
    c.console.print(
        f"{stats.events:,} events ({stats.current_events:,} current after corrections) "
        f"for {stats.users:,} users in {stats.batches} batches, "
        f"from {_day(stats.first_ts)} to {_day(stats.last_ts)}."
    )


@app.command()
def features(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Date the features are as of.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL; default local[2].")
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(help="DuckDB memory limit, e.g. 6GB: beyond it, work spills to disk."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Point-in-time features of every person, as of a date, from the lake."""
    from pentascore.features.catalog import CATALOG

    c = ctx_of(ctx)
    at, chosen = as_of_and_engine(
        c, as_of, engine, master=spark_master or "", memory_limit=memory_limit or ""
    )
    started = time.perf_counter()
    with c.errors.status(f"computing {len(CATALOG)} features as of {at:%Y-%m-%d} on {engine} ..."):
        table = chosen.features(ParquetLake(c.settings.lake_dir), at)
    seconds = time.perf_counter() - started
    write_table(table, out)
    by_dimension = {d.value: sum(f.dimension == d for f in CATALOG) for d in Dimension}
    summary = {
        "users": table.num_rows,
        "features": len(CATALOG),
        "by_dimension": by_dimension,
        "seconds": round(seconds, 3),
        "engine": engine,
        "as_of": at.isoformat(),
        "out": str(out),
    }
    if as_json:
        emit_json(summary)
        return
    c.console.print(
        f"{len(CATALOG)} features for [bold]{table.num_rows:,}[/bold] people as of "
        f"{at:%Y-%m-%d} in {seconds:.1f} s on {engine} -> {out}"
    )


@app.command()
def labels(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Date the outcome window starts.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    horizon_months: Annotated[int, typer.Option(min=1, help="Length of the window.")] = 12,
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Each person's outcome: 90+ days past due within the horizon after the as-of date."""
    c = ctx_of(ctx)
    at, chosen = as_of_and_engine(c, as_of, engine)
    until = add_months(at, horizon_months)
    table = chosen.labels(ParquetLake(c.settings.lake_dir), at, until)
    write_table(table, out)
    bad = sum(table.column("bad").to_pylist())
    summary = {
        "users": table.num_rows,
        "bad": bad,
        "bad_rate": round(bad / table.num_rows, 6) if table.num_rows else None,
        "as_of": at.isoformat(),
        "until": until.isoformat(),
        "out": str(out),
    }
    if as_json:
        emit_json(summary)
        return
    rate = f"{bad / table.num_rows:.1%}" if table.num_rows else "-"
    c.console.print(
        f"{table.num_rows:,} people, {bad:,} went 90+ days past due between {at:%Y-%m-%d} "
        f"and {until:%Y-%m-%d} ({rate}) -> {out}"
    )


def _day(ts: datetime | None) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


class _progress:
    """A Rich progress bar on stderr, or nothing when the output is JSON."""

    def __init__(
        self, console: Console, quiet: bool, label: str, total: int | None, unit: str
    ) -> None:
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        if unit == "bytes":
            columns += [DownloadColumn(), TransferSpeedColumn()]
        else:
            columns += [TextColumn("{task.completed:,.0f}/{task.total:,.0f} " + unit)]
        columns.append(TimeElapsedColumn())
        self.bar = Progress(*columns, console=console, disable=quiet, transient=False)
        self.label, self.total = label, total

    def __enter__(self) -> tuple[Progress, Any]:
        self.bar.start()
        return self.bar, self.bar.add_task(self.label, total=self.total)

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def main() -> None:
    app()
