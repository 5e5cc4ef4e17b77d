"""`pentascore report` (drift, migration, vintages, fairness of a home) and `pentascore
fairness` (the fairness tables of a shipped data set on out-of-fold scores)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from pentascore.cli.common import Context, ctx_of, emit_json, fail
from pentascore.core.clock import SystemClock
from pentascore.core.dates import parse_as_of
from pentascore.core.errors import ConfigError, LakeError, ModelError

if TYPE_CHECKING:
    from pentascore.monitor.report import FairnessSection, Report


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(fairness)


def _write(c: Context, built: Report, out: Path) -> None:
    from pentascore.monitor.report import render

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(render(built), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise fail(c.errors, f"cannot write {out}: {exc}") from exc


def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    demographics: Annotated[
        Path | None,
        typer.Option(
            help="Parquet or CSV with user_id (the platform's ids) and protected attributes, "
            "e.g. a simulation's truth/users.parquet: adds the fairness section."
        ),
    ] = None,
    attributes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated columns of --demographics to group by; default sex-like text "
            "columns and an age or birth_year (in age bands)."
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="Feature engine for the outcome labels.")] = "duckdb",
    now: Annotated[
        str | None,
        typer.Option(
            help="Judge vintage maturity as of this date instead of the lake's latest event."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model's runs (default: one run per date).")
    ] = None,
    horizon_months: Annotated[int, typer.Option(min=1, help="Outcome window of a vintage.")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Monitoring report of the home's score runs: score distribution and PSI month over month,
    feature PSI, band migration, AUC and KS of matured vintages, fairness; one offline HTML."""
    from pentascore.features.engine import make_engine
    from pentascore.lake import ParquetLake
    from pentascore.model.registry import ModelRegistry
    from pentascore.monitor.collect import home_report, read_table
    from pentascore.scores.history import ScoreHistory
    from pentascore.scores.snapshots import FeatureSnapshots

    c = ctx_of(ctx)
    settings = c.settings
    try:
        chosen_engine = make_engine(engine)
        at = parse_as_of(now) if now is not None else None
        table = read_table(demographics) if demographics is not None else None
        key = settings.resolve_pseudonym_key() if table is not None else None
        champion = ModelRegistry(settings.models_dir).champion()
        with c.errors.status("monitoring ...") as status:
            built = home_report(
                history=ScoreHistory(settings.scores_dir),
                snapshots=FeatureSnapshots(settings.features_dir),
                lake=ParquetLake(settings.lake_dir),
                engine=chosen_engine,
                generated_at=SystemClock().now(),
                now=at,
                champion=champion,
                model=model,
                horizon_months=horizon_months,
                demographics=table,
                demographics_name=demographics.name if demographics is not None else "",
                attributes=[a.strip() for a in attributes.split(",") if a.strip()]
                if attributes
                else None,
                key=key,
                say=lambda text: status.update(text),
                home=str(settings.home),
            )
    except (ConfigError, ModelError, LakeError) as exc:
        raise fail(c.errors, str(exc)) from exc
    _write(c, built, out)
    if as_json:
        emit_json({"out": str(out), **built.to_dict()})
        return
    _print_report(c, built, out)


def _print_report(c: Context, built: Report, out: Path) -> None:
    c.console.print(f"wrote [bold]{out}[/bold]: {len(built.runs)} score runs")
    for step in built.score_steps:
        if step.score is not None:
            c.console.print(
                f"  score PSI {step.name}: {step.score.value:.4f} ({step.score.status})"
            )
    if built.feature_steps:
        last = built.feature_steps[-1]
        moved = [(n, p) for n, p in last.features.items() if p.status != "stable"]
        c.console.print(
            f"  features {last.name}: {len(moved)} of {len(last.features)} not stable"
            + (f", largest {moved[0][0]} {moved[0][1].value:.3f}" if moved else "")
        )
    if built.migration is not None:
        before, after, m = built.migration
        c.console.print(
            f"  bands {before} -> {after}: {m.people:,} in both, {m.stayed:,} stayed, "
            f"{m.up:,} up, {m.down:,} down"
        )
    for v in built.vintages:
        if v.matured:
            c.console.print(
                f"  vintage {v.as_of}: {v.people:,} people, bad rate "
                f"{(v.bad_rate or 0):.2%}, AUC {v.auc if v.auc is None else round(v.auc, 4)}, "
                f"KS {v.ks if v.ks is None else round(v.ks, 4)}"
            )
        else:
            c.console.print(f"  vintage {v.as_of}: maturing until {v.matures_on}")
    if built.fairness is not None:
        _print_fairness(c, built.fairness)
    for note in built.notes:
        c.console.print(f"  [yellow]{note}[/yellow]")


def _print_fairness(c: Context, section: FairnessSection) -> None:
    c.console.print(f"fairness: {section.source}")
    for attribute in section.attributes:
        table = Table(title=attribute.attribute, title_justify="left")
        table.add_column("group")
        table.add_column("people", justify="right")
        table.add_column("mean", justify="right")
        table.add_column("bad rate", justify="right")
        for mark in attribute.marks:
            table.add_column(f"approved/ratio at {mark.threshold}", justify="right")
        for row in attribute.rows:
            cells = []
            for k in range(len(attribute.marks)):
                ratio = row.impact[k]
                text = f"{row.approval[k]:.1%} / " + ("-" if ratio is None else f"{ratio:.3f}")
                flagged = row.judged and ratio is not None and ratio < 0.8
                cells.append(f"[red]{text}[/red]" if flagged else text)
            table.add_row(
                row.group + ("" if row.judged else " (not judged)"),
                f"{row.people:,}",
                f"{row.mean:.1f}",
                "-" if row.bad_rate is None else f"{row.bad_rate:.1%}",
                *cells,
            )
        c.console.print(table)
    for note in section.notes:
        c.console.print(f"  [yellow]{note}[/yellow]")


def fairness(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option(help="A shipped mapping with protected columns: german, taiwan.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Or a mapping YAML with a `protected:` list.")
    ] = None,
    cv: Annotated[int, typer.Option(help="Cross-validation folds of the out-of-fold scores.")] = 5,
    kind: Annotated[str, typer.Option(help="scorecard or gbdt.")] = "scorecard",
    allocation: Annotated[
        str, typer.Option(help="Scorecard points by dimension: published or learned.")
    ] = "published",
    seed: Annotated[int, typer.Option(help="Seed of the folds and the fits.")] = 2026,
    out: Annotated[
        Path | None, typer.Option(help="Also write the tables as an offline HTML report.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fairness of the project's model on a data set: out-of-fold scores (the folds of
    `pentascore train`), approval at each scenario pass mark and disparate-impact ratios by
    every protected column of the mapping."""
    from pentascore.model.dataset import shipped_mapping_path
    from pentascore.model.scorecard import Allocation
    from pentascore.model.train import ModelKind
    from pentascore.monitor.collect import dataset_fairness
    from pentascore.monitor.report import Report

    c = ctx_of(ctx)
    if (dataset is None) == (mapping is None):
        raise fail(c.errors, "give exactly one of --dataset or --mapping.")
    try:
        chosen_kind = ModelKind(kind)
        chosen_allocation = Allocation(allocation)
    except ValueError as exc:
        raise fail(
            c.errors, f"{exc}; kind is scorecard|gbdt, allocation published|learned."
        ) from exc
    try:
        path = shipped_mapping_path(dataset) if dataset is not None else mapping
        assert path is not None
        name = dataset if dataset is not None else path.stem
        with c.errors.status(f"out-of-fold scores on {name} ...") as status:
            section = dataset_fairness(
                path,
                name,
                cv=cv,
                kind=chosen_kind,
                allocation=chosen_allocation,
                seed=seed,
                say=lambda text: status.update(text),
            )
    except (ConfigError, ModelError) as exc:
        raise fail(c.errors, str(exc)) from exc
    if out is not None:
        _write(
            c,
            Report(
                title=f"pentascore fairness report: {name}",
                generated_at=SystemClock().now(),
                fairness=section,
            ),
            out,
        )
    if as_json:
        summary: dict[str, Any] = {"dataset": name, "out": str(out) if out else None}
        emit_json({**summary, **section.to_dict()})
        return
    _print_fairness(c, section)
    c.console.print(f"out-of-fold AUC {section.auc:.4f}" if section.auc is not None else "")
    if out is not None:
        c.console.print(f"wrote [bold]{out}[/bold]")
