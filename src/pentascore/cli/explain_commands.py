"""explain and whatif: why a person's score is what it is, and what would raise it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from pentascore.cli.common import Context, ctx_of, emit_json, fail
from pentascore.core.clock import SystemClock
from pentascore.core.dates import parse_as_of
from pentascore.core.errors import ConfigError, ModelError


def register(app: typer.Typer) -> None:
    app.command()(explain)
    app.command()(whatif)


AsOf = Annotated[str | None, typer.Option("--as-of", help="Explain as of this date; default now.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _explainer(c: Context) -> Any:
    from pentascore.explain.whatif import Explainer
    from pentascore.features.duckdb_engine import DuckDBEngine
    from pentascore.lake.store import ParquetLake
    from pentascore.model.registry import ModelRegistry
    from pentascore.scores.history import ScoreHistory

    model, doc = ModelRegistry(c.settings.models_dir).load()
    return Explainer(
        DuckDBEngine(),
        ParquetLake(c.settings.lake_dir),
        ScoreHistory(c.settings.scores_dir),
        model,
        doc.version,
    )


def _person(c: Context, user_id: str, as_of: str | None) -> tuple[str, Any]:
    from pentascore.events.pseudonym import pseudonymize_value

    at = parse_as_of(as_of) if as_of else SystemClock().now()
    return pseudonymize_value(c.settings.resolve_pseudonym_key(), "user_id", user_id), at


def explain(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="The platform's id of the person.")],
    as_of: AsOf = None,
    connections: Annotated[
        bool, typer.Option(help="Also name connections as adverse reasons.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """A person's score rescored from the lake, its five dimensions, the reasons it is not
    higher, and a plan of what would raise it (each step rescored)."""
    c = ctx_of(ctx)
    try:
        user, at = _person(c, user_id, as_of)
        with c.errors.status("rescoring with the reasons and the plan ..."):
            explained = _explainer(c).explain(user, at, connections=connections)
    except (ConfigError, ModelError) as exc:
        raise fail(c.errors, str(exc)) from exc
    data = asdict(explained)
    for reason in data["reasons"]:
        reason["dimension"] = str(reason["dimension"])
    if as_json:
        emit_json({"user_id": user_id, **data})
        return
    c.console.print(
        f"[bold]{explained.score}[/bold] ({explained.band}) as of {explained.as_of}, "
        f"model {explained.model}"
    )
    reasons = Table("why not higher", "points lost", title="reasons")
    for r in explained.reasons:
        reasons.add_row(r.text, str(r.points_lost))
    c.console.print(reasons)
    plan = Table("what you can do", "points", "months", title="plan")
    for step in explained.plan:
        plan.add_row(step.text, f"+{step.points}", str(step.months))
    c.console.print(plan)


def whatif(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="The platform's id of the person.")],
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="repay_on_time_3m, repay_on_time_6m, pay_utilities_6m, verify_education, "
            "verify_employment, repay_and_repair (repeat for several).",
        ),
    ] = None,
    target: Annotated[
        int | None,
        typer.Option(help="Instead of actions: the fewest plan steps that reach this score."),
    ] = None,
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """The score predicted once the actions have happened: a real rescoring of the lake with
    their events added. With --target, the fewest plan steps that reach that score."""
    c = ctx_of(ctx)
    if (target is None) == (not action):
        raise fail(c.errors, "give either --action (one or more) or --target.")
    try:
        user, at = _person(c, user_id, as_of)
        with c.errors.status("rescoring ..."):
            explainer = _explainer(c)
            if target is not None:
                reached = explainer.reach(user, at, target)
                if reached is None:
                    raise fail(
                        c.errors,
                        f"no combination of the plan's actions reaches {target}.",
                        code=1,
                    )
                result = reached
            else:
                result = explainer.what_if(user, at, action or [])
    except (ConfigError, ModelError) as exc:
        raise fail(c.errors, str(exc)) from exc
    if as_json:
        emit_json({"user_id": user_id, **asdict(result)})
        return
    c.console.print(
        f"now {result.score_now}; after {', '.join(result.actions)} "
        f"({result.months} months): [bold]{result.predicted}[/bold] "
        f"(range {result.low}-{result.high})"
    )
