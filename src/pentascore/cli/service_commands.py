"""Commands of the score service: serve, db, partners, consumers, inquiries."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from pentascore.cli.common import ctx_of, emit_json, fail
from pentascore.core.clock import SystemClock
from pentascore.core.errors import ConfigError, LakeError

db_app = typer.Typer(help="The operational database.", no_args_is_help=True)
partners_app = typer.Typer(help="Partners that read scores.", no_args_is_help=True)
consumers_app = typer.Typer(help="People's access to their own scores.", no_args_is_help=True)
inquiries_app = typer.Typer(help="Query records of partner reads.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(db_app, name="db")
    app.add_typer(partners_app, name="partners")
    app.add_typer(consumers_app, name="consumers")
    app.add_typer(inquiries_app, name="inquiries")
    app.add_typer(disputes_app, name="disputes")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web pages (/app, /partner, /ops), after
    bringing the database up to date."""
    import uvicorn

    from pentascore.service.db import open_database
    from pentascore.web.pages import create_site

    c = ctx_of(ctx)
    try:
        database = open_database(c.settings.database)
        app = create_site(c.settings, database=database)  # fails here, not in a worker
        if workers > 1:
            database.dispose()
            # Each worker builds its own app from the environment.
            os.environ["PENTASCORE_HOME"] = str(c.settings.home.resolve())
    except ConfigError as exc:
        raise fail(c.errors, str(exc)) from exc
    c.errors.print(f"pentascore serving on http://{host}:{port} (OpenAPI at /docs)")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        uvicorn.run(
            "pentascore.web.pages:site_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database or bring it to the newest schema (idempotent)."""
    from pentascore.service.db import open_database

    c = ctx_of(ctx)
    try:
        open_database(c.settings.database).dispose()
    except ConfigError as exc:
        raise fail(c.errors, str(exc)) from exc
    c.console.print("database is at the newest schema")


@partners_app.command("add")
def partners_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The partner's name, shown to people.")],
    furnisher: Annotated[
        bool, typer.Option("--furnisher", help="May also send events (POST /v1/events).")
    ] = False,
    reads_per_minute: Annotated[
        int | None, typer.Option(help="Its rate limit; default the service's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Register a partner and print its API key, once: only a hash is kept."""
    from pentascore.service.db import open_database
    from pentascore.service.identities import add_partner

    c = ctx_of(ctx)
    try:
        made = add_partner(
            open_database(c.settings.database),
            name,
            SystemClock().now(),
            furnisher=furnisher,
            reads_per_minute=reads_per_minute,
        )
    except ConfigError as exc:
        raise fail(c.errors, str(exc)) from exc
    if as_json:
        emit_json({"partner_id": made.partner_id, "name": made.name, "api_key": made.api_key})
        return
    c.console.print(f"partner [bold]{made.name}[/bold]: id {made.partner_id}")
    c.console.print(f"API key (shown only now, send it as X-API-Key): {made.api_key}")


@partners_app.command("list")
def partners_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Every partner (never their keys)."""
    from pentascore.service.db import open_database
    from pentascore.service.identities import partners

    c = ctx_of(ctx)
    found = partners(open_database(c.settings.database))
    rows = [
        {
            "partner_id": p.id,
            "name": p.name,
            "furnisher": p.furnisher,
            "reads_per_minute": p.reads_per_minute,
            "created_at": p.created_at.isoformat(),
        }
        for p in found
    ]
    if as_json:
        emit_json({"partners": rows})
        return
    table = Table("partner", "name", "furnisher", "reads/min", "since")
    for r in rows:
        table.add_row(
            str(r["partner_id"]),
            str(r["name"]),
            "yes" if r["furnisher"] else "no",
            str(r["reads_per_minute"] or "default"),
            str(r["created_at"])[:10],
        )
    c.console.print(table)


@consumers_app.command("token")
def consumers_token(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="The platform's id of the person.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Issue a bearer token for a person (demo, tests, or behind your own login)."""
    from pentascore.events.pseudonym import pseudonymize_value
    from pentascore.service.db import open_database
    from pentascore.service.identities import consumer_token

    c = ctx_of(ctx)
    ref = pseudonymize_value(c.settings.resolve_pseudonym_key(), "user_id", user_id)
    token = consumer_token(open_database(c.settings.database), ref, SystemClock().now())
    if as_json:
        emit_json({"user_id": user_id, "token": token})
        return
    c.console.print(f"token for {user_id} (send it as 'Authorization: Bearer ...'): {token}")


@inquiries_app.command("export")
def inquiries_export(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write allowed partner reads not yet in the lake as inquiry events (the service also
    does this every minute)."""
    from pentascore.lake.store import ParquetLake
    from pentascore.service.db import open_database
    from pentascore.service.inquiry_export import export_inquiries

    c = ctx_of(ctx)
    try:
        written = export_inquiries(
            open_database(c.settings.database),
            ParquetLake(c.settings.lake_dir),
            c.settings.rejects_dir,
            SystemClock(),
        )
    except LakeError as exc:
        raise fail(c.errors, str(exc), code=1) from exc
    if as_json:
        emit_json({"exported": written})
        return
    c.console.print(f"wrote {written:,} inquiries to the lake")


@partners_app.command("threshold")
def partners_threshold(
    ctx: typer.Context,
    partner_id: Annotated[str, typer.Argument(help="The partner.")],
    scenario: Annotated[str, typer.Argument(help="bike, power_bank, hotel, car_rental ...")],
    threshold: Annotated[int, typer.Argument(help="The pass mark, 350-950.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Set a partner's pass mark for a scenario (the partner can also do it over HTTP)."""
    from pentascore.service.db import Partner, open_database
    from pentascore.service.errors import Refused
    from pentascore.service.scenarios import set_threshold

    c = ctx_of(ctx)
    database = open_database(c.settings.database)
    with database.session() as session:
        if session.get(Partner, partner_id) is None:
            raise fail(c.errors, f"no partner {partner_id} (see `pentascore partners list`).")
    try:
        marks = set_threshold(database, partner_id, scenario, threshold, SystemClock().now())
    except Refused as exc:
        raise fail(c.errors, exc.message) from exc
    if as_json:
        emit_json({"partner_id": partner_id, "thresholds": marks})
        return
    c.console.print(", ".join(f"{k} {v}" for k, v in marks.items()))


disputes_app = typer.Typer(help="The operators' dispute queue.", no_args_is_help=True)


@disputes_app.command("list")
def disputes_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pending disputes by deadline, the late ones first."""
    from pentascore.service.db import open_database
    from pentascore.service.disputes import queue

    c = ctx_of(ctx)
    now = SystemClock().now()
    queued, _ = queue(open_database(c.settings.database), now, limit=200)
    rows = [
        {
            "dispute_id": q.dispute.id,
            "event_id": q.dispute.event_id,
            "reason": q.dispute.reason,
            "due_at": q.dispute.due_at.isoformat(),
            "late": q.late,
        }
        for q in queued
    ]
    if as_json:
        emit_json({"disputes": rows})
        return
    table = Table("dispute", "record", "reason", "due", "late")
    for r in rows:
        table.add_row(
            str(r["dispute_id"]),
            str(r["event_id"]),
            str(r["reason"]),
            str(r["due_at"])[:10],
            "LATE" if r["late"] else "",
        )
    c.console.print(table)


@disputes_app.command("decide")
def disputes_decide(
    ctx: typer.Context,
    dispute_id: Annotated[int, typer.Argument(help="The dispute.")],
    note: Annotated[str, typer.Option(help="The explanation the person will read.")],
    uphold: Annotated[bool, typer.Option("--uphold/--reject", help="Uphold or reject.")],
    void: Annotated[bool, typer.Option(help="Uphold by voiding the record.")] = False,
    change: Annotated[
        list[str] | None, typer.Option(help="Uphold by fixing a field: FIELD=VALUE (repeat).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Uphold (fix or void the record, rescore the person) or reject a dispute."""
    import json as _json

    from pentascore.features.engine import make_engine
    from pentascore.lake.store import ParquetLake
    from pentascore.model.registry import ModelRegistry
    from pentascore.scores.history import ScoreHistory
    from pentascore.service.db import open_database
    from pentascore.service.disputes import reject
    from pentascore.service.disputes import uphold as uphold_dispute
    from pentascore.service.errors import Refused
    from pentascore.service.refresh import Rescorer

    c = ctx_of(ctx)
    database = open_database(c.settings.database)
    clock = SystemClock()
    lake = ParquetLake(c.settings.lake_dir)
    changes = {}
    for item in change or []:
        field, _, value = item.partition("=")
        try:
            changes[field] = _json.loads(value)
        except ValueError:
            changes[field] = value
    try:
        if uphold:
            rescorer = Rescorer(
                make_engine("duckdb"),
                lake,
                ScoreHistory(c.settings.scores_dir),
                ModelRegistry(c.settings.models_dir),
            )
            decided = uphold_dispute(
                database,
                lake,
                c.settings.rejects_dir,
                clock,
                rescorer,
                dispute_id,
                note,
                changes=changes or None,
                void=void,
            )
        else:
            decided = reject(database, clock, dispute_id, note)
    except Refused as exc:
        raise fail(c.errors, f"{exc.code}: {exc.message}") from exc
    result = {"dispute_id": decided.id, "status": decided.status, "new_score": decided.new_score}
    if as_json:
        emit_json(result)
        return
    c.console.print(f"dispute {decided.id}: {decided.status}, new score {decided.new_score}")
