"""`pentascore train`, `pentascore models ...` and `pentascore score`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import typer
from rich import box
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pentascore.cli.common import Context, as_of_and_engine, ctx_of, emit_json, fail
from pentascore.core.clock import SystemClock
from pentascore.core.dates import add_months
from pentascore.core.errors import ConfigError, LakeError, ModelError
from pentascore.core.types import Dimension
from pentascore.lake import ParquetLake

if TYPE_CHECKING:
    from pentascore.features.engine import FeatureEngine
    from pentascore.model.train import Model
    from pentascore.scores.monthly import MonthlyRun, StageHook

# Column headings narrow enough for an 80-column terminal.
_SHORT = {
    Dimension.CREDIT_HISTORY: "credit",
    Dimension.BEHAVIOR_PREFERENCE: "behavior",
    Dimension.FULFILLMENT_CAPACITY: "capacity",
    Dimension.IDENTITY_TRAITS: "identity",
    Dimension.CONNECTIONS: "connect.",
}

models_app = typer.Typer(help="The model registry: list, show, promote.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(score)
    app.command("run-month")(run_month_command)
    app.add_typer(models_app, name="models")


def _progress(c: Context, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=c.errors,
        disable=quiet,
    )


def train(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Train on the lake's features as of this date.")
    ] = None,
    horizon_months: Annotated[int, typer.Option(min=1, help="Outcome window after --as-of.")] = 12,
    dataset: Annotated[
        str | None, typer.Option(help="A shipped mapping: german, taiwan, hmeq, lending_club ...")
    ] = None,
    table: Annotated[Path | None, typer.Option(help="Train on this CSV table instead.")] = None,
    target: Annotated[str | None, typer.Option(help="Outcome column of --table.")] = None,
    bad: Annotated[str | None, typer.Option(help="Value of --target that means default.")] = None,
    dimensions: Annotated[
        Path | None, typer.Option(help="Mapping YAML: columns to dimensions (with --table).")
    ] = None,
    kind: Annotated[str, typer.Option(help="scorecard or gbdt.")] = "scorecard",
    allocation: Annotated[
        str, typer.Option(help="Scorecard points by dimension: published or learned.")
    ] = "published",
    cv: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option(help="Cross-validation repeats.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the fits.")] = 2026,
    engine: Annotated[str, typer.Option(help="Feature engine for --as-of.")] = "duckdb",
    out_of_time: Annotated[
        str | None,
        typer.Option(
            "--out-of-time",
            help="With --as-of: also validate on the people and outcomes as of this later date.",
        ),
    ] = None,
    promote: Annotated[
        bool, typer.Option(help="Make the new model the champion right away.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train a model (scorecard or GBDT), cross-validate it, and register it as a candidate."""
    from pentascore.model.dataset import Dataset, shipped_mapping_path, table_dataset
    from pentascore.model.registry import ModelRegistry
    from pentascore.model.scorecard import Allocation
    from pentascore.model.train import ModelKind, validate_out_of_time
    from pentascore.model.train import train as train_model

    c = ctx_of(ctx)
    sources = sum(x is not None for x in (as_of, dataset, table))
    if sources != 1:
        raise fail(c.errors, "give exactly one of --as-of (the lake), --dataset or --table.")
    try:
        chosen_kind = ModelKind(kind)
        chosen_allocation = Allocation(allocation)
    except ValueError as exc:
        raise fail(
            c.errors, f"{exc}; kind is scorecard|gbdt, allocation published|learned."
        ) from exc
    if out_of_time is not None and as_of is None:
        raise fail(c.errors, "--out-of-time needs --as-of: tables have no dates.")
    trained_on: dict[str, Any] = {}
    data: Dataset
    try:
        if as_of is not None:
            data, trained_on = _lake_data(c, as_of, horizon_months, engine)
        elif dataset is not None:
            data, _ = table_dataset(shipped_mapping_path(dataset))
            trained_on = {"dataset": dataset}
        else:
            if dimensions is None:
                raise fail(c.errors, "--table needs --dimensions MAP.yaml.")
            data, _ = table_dataset(dimensions, table=table, target=target, bad=bad)
            trained_on = {"mapping": str(dimensions)}
        with _progress(c, as_json) as progress:
            trained = train_model(
                data,
                kind=chosen_kind,
                allocation=chosen_allocation,
                cv=cv,
                repeats=repeats,
                seed=seed,
                progress=progress,
            )
        if out_of_time is not None and as_of is not None:
            later, later_on = _lake_data(c, out_of_time, horizon_months, engine)
            if later_on["as_of"] <= trained_on["as_of"]:
                raise fail(c.errors, "--out-of-time must be later than --as-of.")
            trained = validate_out_of_time(trained, later, f"out of time ({later_on['as_of']})")
            trained_on["out_of_time"] = later_on["as_of"]
        registry = ModelRegistry(c.settings.models_dir)
        now = SystemClock().now()
        doc = registry.register(trained, now, trained_on)
        if promote:
            registry.promote(doc.version, now)
    except (ConfigError, ModelError) as exc:
        raise fail(c.errors, str(exc)) from exc
    headline = doc.metrics[doc.headline]
    summary = {
        "model": doc.version,
        "kind": doc.kind,
        "status": "champion" if promote else "candidate",
        **{k: headline[k] for k in ("auc", "auc_sd", "gini", "ks", "brier")},
        "bands_monotone": headline["bands_monotone"],
        "dimension_shares": {d.value: round(v, 6) for d, v in doc.learned_shares.items()},
        "variants": {k: v["auc"] for k, v in doc.metrics.items()},
        "rows": doc.trained_on["rows"],
        "bad_rate": doc.trained_on["bad_rate"],
        "card": str(c.settings.models_dir / doc.version / "card.md"),
    }
    if as_json:
        emit_json(summary)
        return
    c.console.print(
        f"[bold]{doc.version}[/bold] ({doc.kind}) on {summary['rows']:,} rows: "
        f"AUC {summary['auc']:.4f} ± {summary['auc_sd']:.4f}, Gini {summary['gini']:.4f}, "
        f"KS {summary['ks']:.4f}, Brier {summary['brier']:.4f}"
    )
    for variant, auc in summary["variants"].items():
        c.console.print(f"  {variant}: AUC {auc:.4f}")
    shares = ", ".join(f"{d} {v:.0%}" for d, v in summary["dimension_shares"].items())
    c.console.print(f"  learned dimension shares: {shares}")
    if not summary["bands_monotone"]:
        c.console.print("  [yellow]the bad rate does not fall monotonically by band[/yellow]")
    c.console.print(f"  {summary['status']}; card: {summary['card']}")


def _lake_data(
    c: Context, as_of: str, horizon_months: int, engine: str
) -> tuple[Any, dict[str, Any]]:
    from pentascore.model.dataset import lake_dataset

    at, chosen = as_of_and_engine(c, as_of, engine)
    with c.errors.status(f"features and labels as of {at:%Y-%m-%d} ..."):
        features = _features_as_of(c, chosen, at)
        labels = chosen.labels(ParquetLake(c.settings.lake_dir), at, add_months(at, horizon_months))
    if features.num_rows == 0:
        raise ModelError(f"the lake has no events before {at:%Y-%m-%d}: nothing to train on.")
    data = lake_dataset(features, labels, source=f"lake as of {at:%Y-%m-%d}")
    return data, {"as_of": at.date().isoformat(), "horizon_months": horizon_months}


def _features_as_of(c: Context, engine: FeatureEngine, at: datetime) -> pa.Table:
    from pentascore.scores.history import ScoreHistory
    from pentascore.scores.run import features_as_of

    return features_as_of(
        engine, ParquetLake(c.settings.lake_dir), ScoreHistory(c.settings.scores_dir), at
    )


_ENGINE = Annotated[str, typer.Option(help="Feature engine: duckdb or spark.")]
_SPARK_MASTER = Annotated[
    str | None, typer.Option(help="Spark master URL (with --engine spark); default local[2].")
]
_MODEL = Annotated[str | None, typer.Option("--model", help="Model version; default the champion.")]


def _monthly(
    c: Context,
    as_of: str,
    model: str | None,
    engine: str,
    spark_master: str | None,
    on_stage: StageHook | None = None,
) -> tuple[MonthlyRun, Model]:
    """The monthly run as of ``as_of`` (`pentascore.scores.monthly`), or a clear error."""
    from pentascore.model.registry import ModelRegistry
    from pentascore.scores.history import ScoreHistory
    from pentascore.scores.monthly import MonthlyInputs, run_month
    from pentascore.scores.snapshots import FeatureSnapshots
    from pentascore.service.db import open_database
    from pentascore.service.inquiry_export import export_inquiries
    from pentascore.service.published import publish

    at, chosen = as_of_and_engine(c, as_of, engine, master=spark_master or "")
    settings, clock = c.settings, SystemClock()
    lake = ParquetLake(settings.lake_dir)
    try:
        loaded, doc = ModelRegistry(settings.models_dir).load(model)
        database = open_database(settings.database)
        run = run_month(
            at,
            engine=chosen,
            inputs=MonthlyInputs(
                lake=lake,
                history=ScoreHistory(settings.scores_dir),
                snapshots=FeatureSnapshots(settings.features_dir),
                runs_dir=settings.runs_dir,
            ),
            model=loaded,
            version=doc.version,
            export_inquiries=lambda: export_inquiries(database, lake, settings.rejects_dir, clock),
            publish=lambda scores: publish(database, scores, clock.now()),
            clock=clock,
            on_stage=on_stage,
        )
    except (ConfigError, ModelError, LakeError) as exc:
        raise fail(c.errors, str(exc)) from exc
    return run, loaded


def run_month_command(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Date the month's scores are as of.")],
    model: _MODEL = None,
    engine: _ENGINE = "duckdb",
    spark_master: _SPARK_MASTER = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The month's run: inquiries -> features -> scores -> publish. Resumable: run it again
    after a crash and it finishes what was left; after success it changes nothing."""
    from pentascore.scores.monthly import STAGES

    c = ctx_of(ctx)
    progress = Progress(
        SpinnerColumn(finished_text="[green]✓[/green]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=c.errors,
        disable=as_json,
    )
    tasks = {name: progress.add_task(name, total=1, start=False) for name in STAGES}

    def on_stage(name: str, event: str) -> None:
        if event == "start":
            progress.start_task(tasks[name])
            progress.update(tasks[name], description=f"{name} ...")
        else:
            note = " (done already)" if event == "skipped" else ""
            progress.update(tasks[name], completed=1, description=f"{name}{note}")
            progress.stop_task(tasks[name])

    with progress:
        run, _ = _monthly(c, as_of, model, engine, spark_master, on_stage)
    summary = run.to_dict()
    if as_json:
        emit_json(summary)
        return
    table = Table("stage", "ran", "seconds", "result", box=box.SIMPLE_HEAD)
    for report in run.stages:
        shown = {k: v for k, v in report.detail.items() if k not in ("file", "bands")}
        table.add_row(
            report.name,
            "yes" if report.ran else "done already",
            f"{report.seconds:.1f}",
            ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in shown.items()),
        )
    c.console.print(table)
    c.console.print(
        f"as of {summary['as_of']} with {run.model}: {summary['scored']:,} people scored "
        f"(mean {summary['mean_score']}), {summary['thin_files']:,} thin files not scored."
    )


def score(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Date the scores are as of.")],
    model: _MODEL = None,
    engine: _ENGINE = "duckdb",
    spark_master: _SPARK_MASTER = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score everyone in the lake as of a date: the monthly run (`run-month`), shown as the
    score distribution and a few people's points."""
    from pentascore.scores.history import ScoreHistory

    c = ctx_of(ctx)
    with c.errors.status(f"the run as of {as_of} ..."):
        run, loaded = _monthly(c, as_of, model, engine, spark_master)
    result = run.summary
    summary = {
        "as_of": run.as_of.isoformat(),
        "model": run.model,
        "users": result["scored"],
        "mean_score": result["mean_score"],
        "min_score": result["min_score"],
        "max_score": result["max_score"],
        "bands": result["bands"],
        "file": result["file"],
        "published": run.stages[-1].detail["published"],
        "thin_files": result["thin_files"],
    }
    if as_json:
        emit_json(summary)
        return
    path, thin, by_band = result["file"], result["thin_files"], result["bands"]
    scores = ScoreHistory(c.settings.scores_dir).read(run.as_of, run.model)
    c.console.print(
        f"scored [bold]{summary['users']:,}[/bold] people as of {summary['as_of']} with "
        f"{run.model}: mean {summary['mean_score']}, range {summary['min_score']}-"
        f"{summary['max_score']} -> {path}; {thin:,} thin files not scored"
    )
    bands_table = Table("band", "people", "share")
    for name, count in by_band.items():
        bands_table.add_row(name, f"{count:,}", f"{count / summary['users']:.1%}")
    c.console.print(bands_table)
    sample = Table(
        title=f"a few people: score = {loaded.base} + the five dimensions' points",
        box=box.SIMPLE_HEAD,
    )
    for heading in ("user", "score", "band", *_SHORT.values()):
        sample.add_column(heading, no_wrap=True)
    for row in scores.slice(0, 5).to_pylist():
        sample.add_row(
            row["user_id"][:6],
            str(row["score"]),
            row["band"],
            *(str(row[d]) for d in Dimension),
        )
    c.console.print(sample)


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Every registered model, oldest first, with its status and cross-validated AUC."""
    from pentascore.model.registry import ModelRegistry

    c = ctx_of(ctx)
    try:
        entries = ModelRegistry(c.settings.models_dir).entries()
    except ModelError as exc:
        raise fail(c.errors, str(exc)) from exc
    if as_json:
        emit_json(
            {
                "models": [
                    {
                        "model": e.version,
                        "kind": e.kind,
                        "status": e.status,
                        "auc": e.auc,
                        "created_at": e.created_at.isoformat(),
                        "source": e.source,
                    }
                    for e in entries
                ]
            }
        )
        return
    table = Table("model", "kind", "status", "AUC", "created", "trained on")
    for e in entries:
        table.add_row(
            e.version,
            e.kind,
            e.status,
            f"{e.auc:.4f}" if e.auc is not None else "-",
            f"{e.created_at:%Y-%m-%d %H:%M}",
            e.source,
        )
    c.console.print(table)


@models_app.command("show")
def models_show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Model version.")],
) -> None:
    """Print a model's card (markdown)."""
    from pentascore.model.registry import ModelRegistry

    c = ctx_of(ctx)
    try:
        card = ModelRegistry(c.settings.models_dir).card(version)
    except ModelError as exc:
        raise fail(c.errors, str(exc)) from exc
    typer.echo(card)


@models_app.command("promote")
def models_promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Model version to make the champion.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Make a candidate the champion that batch scoring uses."""
    from pentascore.model.registry import ModelRegistry

    c = ctx_of(ctx)
    try:
        previous = ModelRegistry(c.settings.models_dir).promote(version, SystemClock().now())
    except ModelError as exc:
        raise fail(c.errors, str(exc)) from exc
    if as_json:
        emit_json({"champion": version, "replaced": previous})
        return
    c.console.print(f"{version} is the champion" + (f" (was {previous})." if previous else "."))
