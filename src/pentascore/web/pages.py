"""Pages for people (/app), partners (/partner) and operators (/ops), rendered on the server.

A thin shell like the API: each page calls the same service functions. Sign-in puts the
person's token, the partner's key or the operator token in an HttpOnly, SameSite=Strict
cookie (which also keeps other sites from posting the forms); forms work without JavaScript.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from pentascore.core.settings import Settings
from pentascore.core.types import Dimension
from pentascore.explain.actions import ACTIONS
from pentascore.explain.whatif import NotScoreable
from pentascore.service import authorizations
from pentascore.service.app import Service, _service, create_app
from pentascore.service.authorizations import Decision, Scope
from pentascore.service.credentials import hash_secret, same_secret
from pentascore.service.db import ConsumerToken, Inquiry, Partner
from pentascore.service.disputes import disputes_of, file_dispute, queue, reject, uphold
from pentascore.service.errors import Refused
from pentascore.service.published import history, latest
from pentascore.service.reads import ALLOWED, ReadJob
from pentascore.service.remedies import _explainer
from pentascore.service.scenario_routes import _debt
from pentascore.service.scenarios import decide, record_decision, thresholds
from pentascore.web import charts
from pentascore.web.i18n import LANGUAGES, translator

_ENV = Environment(
    loader=PackageLoader("pentascore.web", "templates"), autoescape=select_autoescape()
)
_COOKIE = {"httponly": True, "samesite": "strict", "max_age": 8 * 3600}


def _lang(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("lang") or "en"
    return chosen if chosen in LANGUAGES else "en"


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    html = _ENV.get_template(template).render(lang=lang, t=translator(lang), **context)
    response = HTMLResponse(html, status_code=status)
    response.set_cookie("lang", lang, samesite="strict", max_age=365 * 86400)
    return response


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _me(svc: Service, request: Request) -> str | None:
    token = request.cookies.get("pentascore_me")
    if not token:
        return None
    with svc.database.session() as session:
        return session.scalar(
            sa.select(ConsumerToken.user_ref).where(
                ConsumerToken.token_hash == hash_secret(token), ConsumerToken.revoked_at.is_(None)
            )
        )


def _partner(svc: Service, request: Request) -> Partner | None:
    key = request.cookies.get("pentascore_partner")
    if not key:
        return None
    with svc.database.session() as session:
        return session.scalar(
            sa.select(Partner).where(
                Partner.key_hash == hash_secret(key), Partner.disabled_at.is_(None)
            )
        )


def _operator(svc: Service, request: Request) -> bool:
    token = request.cookies.get("pentascore_ops")
    return bool(token and svc.operator_token and same_secret(token, svc.operator_token))


def _login(request: Request, action: str, heading: str, label: str, msg: str = "") -> Response:
    t = translator(_lang(request))
    return _page(
        request, "login.html", action=action, heading=t[heading], label=t[label], message=msg
    )


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: (form.getlist(k) if k == "actions" else form.get(k)) for k in form}


def _consumer_page(svc: Service, request: Request, me: str, **extra: Any) -> HTMLResponse:
    t = translator(_lang(request))
    now = svc.clock.now()
    names = {d.value: t[f"dimension.{d.value}"] for d in Dimension}
    context: dict[str, Any] = {"needs": [], "reasons": [], "plan": []}
    with svc.database.session() as session:
        row = latest(session, me)
        if row is not None:
            points, _ = history(session, me, 0, 24)
            context |= {
                "score": row.score,
                "dial": charts.dial(
                    row.score, row.band, t["score_dial"].format(score=row.score, band=row.band)
                ),
                "radar": charts.radar(
                    {d.value: getattr(row, f"{d.value}_radar") for d in Dimension},
                    names,
                    t["radar"],
                ),
                "history": charts.history(
                    [(p.as_of.isoformat(), p.score) for p in reversed(points)],
                    t["history_chart"],
                ),
            }
            authorizations.audit(session, now, "consumer", "score.viewed", me, via="web")
        auths, _ = authorizations.listing(session, now, user_ref=me, limit=50)
        inquiries = session.execute(
            sa.select(Inquiry, Partner.name)
            .join(Partner, Partner.id == Inquiry.partner_id)
            .where(Inquiry.user_ref == me)
            .order_by(Inquiry.id.desc())
            .limit(50)
        ).all()
    explainer = _explainer(svc)
    if row is not None:
        try:
            explained = explainer.explain(me, now)
            context |= {"reasons": explained.reasons, "plan": explained.plan}
        except NotScoreable as exc:
            context["needs"] = exc.needs
    else:
        refused = svc.rescorer.unscoreable(me, now)
        context["needs"] = refused.extra.get("needs", [])
    records = explainer.events_of(me)[-30:][::-1]
    return _page(
        request,
        "me.html",
        authorizations=auths,
        inquiries=inquiries,
        disputes=disputes_of(svc.database, me),
        records=records,
        actions=[(a.name, a.text) for a in ACTIONS.values()],
        **context,
        **extra,
    )


def add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return _back("/app")

    # -- people ---------------------------------------------------------------------------

    @app.get("/app", include_in_schema=False)
    def consumer_home(request: Request) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _login(request, "/app/login", "my_score", "token")
        return _consumer_page(svc, request, me)

    @app.post("/app/login", include_in_schema=False)
    async def consumer_login(request: Request) -> Response:
        secret = str((await _form(request)).get("secret") or "")
        svc = _service(request)
        response = _back("/app")
        response.set_cookie("pentascore_me", secret, **_COOKIE)  # type: ignore[arg-type]
        with svc.database.session() as session:
            known = session.scalar(
                sa.select(ConsumerToken.id).where(ConsumerToken.token_hash == hash_secret(secret))
            )
        if known is None:
            return _login(request, "/app/login", "my_score", "token", "401")
        return response

    @app.post("/app/logout", include_in_schema=False)
    def consumer_logout() -> Response:
        response = _back("/app")
        response.delete_cookie("pentascore_me")
        return response

    @app.post("/app/authorizations/{authorization_id}/{decision}", include_in_schema=False)
    async def consumer_decide(authorization_id: str, decision: str, request: Request) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None or decision not in {d.value for d in Decision}:
            return _back("/app")
        reason = str((await _form(request)).get("reason") or "") or None
        try:
            with svc.database.session() as session:
                authorizations.decide(
                    session, me, authorization_id, Decision(decision), svc.clock.now(), reason
                )
        except Refused as exc:
            return _consumer_page(svc, request, me, message=exc.message)
        return _back("/app#authorizations")

    @app.post("/app/whatif", include_in_schema=False)
    async def consumer_whatif(request: Request) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        names = [a for a in (await _form(request)).get("actions") or [] if a in ACTIONS]
        if not names:
            return _back("/app")
        try:
            result = _explainer(svc).what_if(me, svc.clock.now(), names)
        except NotScoreable as exc:
            return _consumer_page(svc, request, me, message=str(exc))
        prediction = {
            "predicted": result.predicted,
            "low": result.low,
            "high": result.high,
            "months": result.months,
        }
        return _consumer_page(svc, request, me, prediction=prediction)

    @app.post("/app/disputes", include_in_schema=False)
    async def consumer_dispute(request: Request) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        form = await _form(request)
        try:
            file_dispute(
                svc.database,
                svc.lake,
                svc.clock,
                me,
                str(form.get("event_id") or ""),
                str(form.get("reason") or "")[:2000] or "-",
            )
        except Refused as exc:
            return _consumer_page(svc, request, me, message=exc.message)
        return _back("/app#disputes")

    # -- partners -------------------------------------------------------------------------

    @app.get("/partner", include_in_schema=False)
    def partner_home(request: Request) -> Response:
        svc = _service(request)
        if _partner(svc, request) is None:
            return _login(request, "/partner/login", "partner_console", "api_key")
        return _page(request, "partner.html", purposes=authorizations.PURPOSES)

    @app.post("/partner/login", include_in_schema=False)
    async def partner_login(request: Request) -> Response:
        response = _back("/partner")
        secret = str((await _form(request)).get("secret") or "")
        response.set_cookie("pentascore_partner", secret, **_COOKIE)  # type: ignore[arg-type]
        return response

    @app.post("/partner/act", include_in_schema=False)
    async def partner_act(request: Request) -> Response:
        svc = _service(request)
        found = _partner(svc, request)
        if found is None:
            return _back("/partner")
        form = await _form(request)
        user_id, purpose = str(form.get("user_id") or ""), str(form.get("purpose") or "")
        now = svc.clock.now()
        ref = svc.user_ref(user_id)
        result: dict[str, Any]
        try:
            if form.get("act") == "ask":
                with svc.database.session() as session:
                    made, _ = authorizations.request(
                        session,
                        found,
                        ref,
                        purpose,
                        Scope(str(form.get("scope") or "score")),
                        int(str(form.get("days") or 30)),
                        now,
                    )
                    result = {"authorization_id": made.id, "status": made.status}
            else:
                read = await svc.reads.read(svc.database, ReadJob(found.id, ref, purpose, now))
                assert read is not None
                if read.outcome != ALLOWED or read.score is None:
                    result = {"error": read.outcome}
                elif form.get("act") == "decide":
                    with svc.database.session() as session:
                        mark = thresholds(session, found.id)[purpose]
                    decided = decide(read, purpose, mark, lambda: _debt(svc, ref))
                    record_decision(svc.database, read.inquiry_id, decided)
                    result = {"decision": decided.decision, "reason": decided.reason}
                else:
                    result = {"score": read.score.score, "band": read.score.band}
        except (Refused, ValueError) as exc:
            result = {"error": getattr(exc, "code", str(exc))}
        return _page(
            request,
            "partner.html",
            purposes=authorizations.PURPOSES,
            result=json.dumps(result, ensure_ascii=False),
        )

    # -- operators ------------------------------------------------------------------------

    @app.get("/ops", include_in_schema=False)
    def ops_home(request: Request) -> Response:
        svc = _service(request)
        if not _operator(svc, request):
            return _login(request, "/ops/login", "operator_console", "operator_token")
        queued, _ = queue(svc.database, svc.clock.now(), limit=200)
        return _page(request, "ops.html", queue=queued, models=svc.rescorer.registry.entries())

    @app.post("/ops/login", include_in_schema=False)
    async def ops_login(request: Request) -> Response:
        response = _back("/ops")
        secret = str((await _form(request)).get("secret") or "")
        response.set_cookie("pentascore_ops", secret, **_COOKIE)  # type: ignore[arg-type]
        return response

    @app.post("/ops/disputes/{dispute_id}", include_in_schema=False)
    async def ops_decide(dispute_id: int, request: Request) -> Response:
        svc = _service(request)
        if not _operator(svc, request):
            return _back("/ops")
        form = await _form(request)
        note = str(form.get("note") or "")[:2000] or "-"
        if form.get("decision") == "uphold":
            uphold(
                svc.database,
                svc.lake,
                svc.settings.rejects_dir,
                svc.clock,
                svc.rescorer,
                dispute_id,
                note,
                void=True,
            )
        else:
            reject(svc.database, svc.clock, dispute_id, note)
        return _back("/ops")


def create_site(settings: Settings, **injected: Any) -> FastAPI:
    """The service's API with the pages on top: what `pentascore serve` runs."""
    app = create_app(settings, **injected)
    add_pages(app)
    return app


def site_from_env() -> FastAPI:
    """The site for ``uvicorn --factory`` (several workers): settings from the environment."""
    return create_site(Settings())
