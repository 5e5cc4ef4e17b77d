"""Pages for people (/app), partners (/partner) and operators (/ops), rendered on the server.

A thin shell like the API: each page calls the same service functions. Sign-in puts the
person's token, the partner's key or the operator token in an HttpOnly, SameSite=Strict
cookie (which also keeps other sites from posting the forms); forms work without JavaScript.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from pentascore.core.errors import ModelError
from pentascore.core.settings import Settings
from pentascore.core.types import Dimension
from pentascore.events.schema import ID_PATTERN
from pentascore.explain.actions import ACTIONS, RepairPolicy, Rows
from pentascore.explain.whatif import NotScoreable
from pentascore.model import artifact
from pentascore.model.registry import Entry
from pentascore.service import authorizations
from pentascore.service.app import Service, _service, create_app
from pentascore.service.authorizations import Decision, Scope
from pentascore.service.credentials import hash_secret, same_secret
from pentascore.service.db import ConsumerToken, Inquiry, Partner
from pentascore.service.disputes import disputes_of, file_dispute, queue, reject
from pentascore.service.errors import Refused
from pentascore.service.published import history, latest
from pentascore.service.reads import ALLOWED, ReadJob
from pentascore.service.refresh import refresh
from pentascore.service.remedies import explainer_of
from pentascore.service.repairs import ask_repair, repair_refusal, repairs_of
from pentascore.service.scenario_routes import _debt
from pentascore.service.scenarios import decide, record_decision, thresholds
from pentascore.web import charts
from pentascore.web.i18n import (
    LANGUAGES,
    action_text,
    band_label,
    needs_text,
    operator_refusal_text,
    reason_text,
    refusal_text,
    translator,
    word_for,
)

_ENV = Environment(
    loader=PackageLoader("pentascore.web", "templates"), autoescape=select_autoescape()
)
_COOKIE = {"httponly": True, "samesite": "strict", "max_age": 8 * 3600}
# A form field, read by FastAPI: routes that read only named fields are plain functions, which
# FastAPI runs in its thread pool, so a page that rescores (seconds) never blocks the server.
FormText = Annotated[str, Form()]


def _lang(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("lang") or "en"
    return chosen if chosen in LANGUAGES else "en"


def _page(
    request: Request, template: str, status: int = 200, signout: str | None = None, **context: Any
) -> HTMLResponse:
    lang = _lang(request)
    t = translator(lang)
    other = "en" if lang == "zh" else "zh"
    query = {**request.query_params, "lang": other}
    # A page shown in answer to a form (a refusal) switches language at its own address
    # (/app, /partner, /ops): the form's address answers POST only.
    path = request.url.path if request.method == "GET" else "/" + request.url.path.split("/")[1]
    html = _ENV.get_template(template).render(
        lang=lang,
        t=t,
        other=other,
        switch_url=f"{path}?{urlencode(query)}",
        signout=signout,
        word_for=lambda kind, code: word_for(kind, code, t),
        **context,
    )
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


def _policy(svc: Service) -> RepairPolicy:
    """The overdue-repair policy, from the settings, as the API's POST /v1/me/repairs has it."""
    return RepairPolicy(svc.settings.repair_max_amount, svc.settings.repair_max_days_to_repay)


def _money(amount: int, currency: str | None) -> str:
    return f"{amount / 100:,.2f} {currency or ''}".strip()


def _refusal_words(
    code: str, sentence: str, lang: str, policy: RepairPolicy, record: dict[str, Any] | None
) -> str:
    """A repair refusal in the page's language, with the numbers its sentence names."""
    days = ""
    if record and isinstance(record.get("paid_ts"), datetime) and record.get("due_ts"):
        days = str((record["paid_ts"] - record["due_ts"]).days)
    return refusal_text(
        code,
        sentence,
        lang,
        amount=f"{policy.max_amount / 100:,.2f}",
        days=days,
        max_days=policy.max_days_to_repay,
        event_id=(record or {}).get("event_id", ""),
    )


def repairable(
    records: Rows, policy: RepairPolicy, lang: str, now: datetime
) -> list[dict[str, Any]]:
    """The person's overdue bills repaid in full by ``now`` and not repaired yet, newest
    first, each with why the policy would refuse it (None when it can be repaired), as
    `ask_repair` would answer."""
    out = []
    for record in records:
        if record["type"] != "bill" or int(record.get("days_past_due") or 0) < 1:
            continue
        if record["ts"] > now:
            continue
        if record.get("repaired"):
            continue
        paid = int(record.get("paid_amount") or 0)
        if not isinstance(record.get("paid_ts"), datetime) or paid < int(record["amount"]):
            continue
        refusal = repair_refusal(record, policy)
        out.append(
            {
                "event_id": record["event_id"],
                "due": record["due_ts"].date(),
                "amount": _money(int(record["amount"]), record.get("currency")),
                "days_late": int(record["days_past_due"]),
                "repaid": record["paid_ts"].date(),
                "refusal": None
                if refusal is None
                else _refusal_words(refusal[1], refusal[2], lang, policy, record),
            }
        )
    return sorted(out, key=lambda r: (r["due"], r["event_id"]), reverse=True)


def _consumer_page(svc: Service, request: Request, me: str, **extra: Any) -> HTMLResponse:
    lang = _lang(request)
    t = translator(lang)
    now = svc.clock.now()
    names = {d.value: t[f"dimension.{d.value}"] for d in Dimension}
    context: dict[str, Any] = {"needs": [], "reasons": [], "plan": []}
    with svc.database.session() as session:
        row = latest(session, me)
        if row is not None:
            points, _ = history(session, me, 0, 24)
            band = band_label(row.band, lang)
            context |= {
                "score": row.score,
                "dial": charts.dial(
                    row.score, band, t["score_dial"].format(score=row.score, band=band)
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
    explainer = explainer_of(svc)
    if row is not None:
        try:
            explained = explainer.explain(me, now)
            context |= {
                "reasons": [
                    {
                        "text": reason_text(r.feature, r.value, lang, r.text),
                        "points_lost": r.points_lost,
                    }
                    for r in explained.reasons
                ],
                "plan": [
                    {
                        "text": action_text(s.action, lang, s.text),
                        "points": s.points,
                        "months": s.months,
                    }
                    for s in explained.plan
                ],
            }
        except NotScoreable as exc:
            context["needs"] = needs_text(exc.thin, lang)
    else:
        context["needs"] = needs_text(svc.rescorer.thin_file(me, now), lang)
    events = explainer.events_of(me)
    return _page(
        request,
        "me.html",
        signout="/app/logout",
        authorizations=auths,
        inquiries=inquiries,
        disputes=disputes_of(svc.database, me),
        records=events[-30:][::-1],
        repairable=repairable(events, explainer.repair_policy, lang, now),
        repairs=repairs_of(svc.database, me),
        actions=[(a.name, action_text(a.name, lang, a.text)) for a in ACTIONS.values()],
        **context,
        **extra,
    )


def model_rows(registry_root: Path, entries: list[Entry]) -> list[dict[str, Any]]:
    """Each registered model with its document's cross-validated measures (the headline
    variant's) and learned dimension shares, oldest first."""
    rows = []
    for entry in entries:
        doc, _ = artifact.read_doc(registry_root / entry.version)
        rows.append(
            {
                "entry": entry,
                "doc": doc,
                "metrics": doc.metrics.get(doc.headline, {}),
                "shares": {d.value: doc.learned_shares.get(d) for d in Dimension},
            }
        )
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: Any, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def comparison(a: dict[str, Any], b: dict[str, Any], t: dict[str, str]) -> list[list[str]]:
    """Two models side by side: one row per measure (name, first, second, second - first)."""

    def diff(x: Any, y: Any, pct: bool = False, digits: int = 4) -> str:
        if not isinstance(x, int | float) or not isinstance(y, int | float):
            return ""
        d = (y - x) * (100 if pct else 1)
        return f"{d:+.1f} pp" if pct else f"{d:+.{digits}f}"

    def measure(model: dict[str, Any], key: str) -> Any:
        return model["metrics"].get(key)

    rows: list[list[str]] = []
    da, db = a["doc"], b["doc"]
    rows.append([t["kind"], da.kind, db.kind, ""])
    rows.append(
        [
            t["status"],
            word_for("status", a["entry"].status, t),
            word_for("status", b["entry"].status, t),
            "",
        ]
    )
    rows.append(
        [t["created"], f"{da.created_at:%Y-%m-%d %H:%M}", f"{db.created_at:%Y-%m-%d %H:%M}", ""]
    )
    rows.append(
        [
            t["trained_on"],
            " ".join(str(da.trained_on.get(k, "")) for k in ("source", "as_of")).strip(),
            " ".join(str(db.trained_on.get(k, "")) for k in ("source", "as_of")).strip(),
            "",
        ]
    )
    ra, rb = da.trained_on.get("rows"), db.trained_on.get("rows")
    rows.append([t["rows"], str(ra or "–"), str(rb or "–"), diff(ra, rb, digits=0)])
    ba, bb = da.trained_on.get("bad_rate"), db.trained_on.get("bad_rate")
    rows.append([t["bad_rate"], _pct(ba), _pct(bb), diff(ba, bb, pct=True)])
    rows.append(
        [
            t["validation"],
            t["folds"].format_map({"k": "", "repeats": "", "seed": "", **da.validation}),
            t["folds"].format_map({"k": "", "repeats": "", "seed": "", **db.validation}),
            "",
        ]
    )
    for key, label in (
        ("auc", "AUC"),
        ("auc_sd", t["auc_sd"]),
        ("gini", "Gini"),
        ("ks", "KS"),
        ("brier", t["brier"]),
    ):
        x, y = measure(a, key), measure(b, key)
        rows.append([label, _num(x), _num(y), diff(x, y)])
    mono = {True: t["yes"], False: t["no"], None: "–"}
    rows.append(
        [
            t["bands_monotone"],
            mono[measure(a, "bands_monotone")],
            mono[measure(b, "bands_monotone")],
            "",
        ]
    )
    rows.append([t["base"], str(da.base), str(db.base), diff(da.base, db.base, digits=0)])
    rows.append(
        [
            t["features"],
            str(len(da.columns)),
            str(len(db.columns)),
            diff(len(da.columns), len(db.columns), digits=0),
        ]
    )
    rows.append(
        [
            t["allocation"],
            da.scorecard.allocation.value if da.scorecard else "–",
            db.scorecard.allocation.value if db.scorecard else "–",
            "",
        ]
    )
    for d in Dimension:
        x, y = a["shares"][d.value], b["shares"][d.value]
        rows.append(
            [
                t["share_of"].format(dimension=t[f"dimension.{d.value}"]),
                _pct(x),
                _pct(y),
                diff(x, y, pct=True),
            ]
        )
    return rows


def _ops_page(svc: Service, request: Request, status: int = 200, **extra: Any) -> HTMLResponse:
    t = translator(_lang(request))
    queued, _ = queue(svc.database, svc.clock.now(), limit=200)
    registry = svc.rescorer.registry
    models = model_rows(registry.root, registry.entries())
    by_version = {m["entry"].version: m for m in models}
    champion = registry.champion()
    first = request.query_params.get("a")
    second = request.query_params.get("b")
    if first not in by_version:
        first = (
            champion if champion in by_version else (models[0]["entry"].version if models else None)
        )
    if second not in by_version:
        others = [v for v in reversed(list(by_version)) if v != first]
        second = others[0] if others else None
    compared = (
        comparison(by_version[first], by_version[second], t)
        if first is not None and second is not None
        else []
    )
    return _page(
        request,
        "ops.html",
        status=status,
        signout="/ops/logout",
        queue=queued,
        models=models,
        dimensions=[d.value for d in Dimension],
        pct=_pct,
        num=_num,
        first=first,
        second=second,
        compared=compared,
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
    def consumer_decide(
        authorization_id: str, decision: str, request: Request, reason: FormText = ""
    ) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None or decision not in {d.value for d in Decision}:
            return _back("/app")
        try:
            with svc.database.session() as session:
                authorizations.decide(
                    session,
                    me,
                    authorization_id,
                    Decision(decision),
                    svc.clock.now(),
                    reason or None,
                )
        except Refused as exc:
            words = refusal_text(exc.code, exc.message, _lang(request))
            return _consumer_page(svc, request, me, message=words)
        return _back("/app#authorizations")

    @app.post("/app/whatif", include_in_schema=False)
    def consumer_whatif(
        request: Request, actions: Annotated[list[str] | None, Form()] = None
    ) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        names = [a for a in actions or [] if a in ACTIONS]
        if not names:
            return _back("/app")
        try:
            result = explainer_of(svc).what_if(me, svc.clock.now(), names)
        except NotScoreable as exc:
            code = "no_data" if exc.thin is None else "not_enough_data"
            words = refusal_text(code, str(exc), _lang(request))
            return _consumer_page(svc, request, me, message=words)
        prediction = {
            "predicted": result.predicted,
            "low": result.low,
            "high": result.high,
            "months": result.months,
        }
        return _consumer_page(svc, request, me, prediction=prediction)

    @app.post("/app/disputes", include_in_schema=False)
    def consumer_dispute(
        request: Request, event_id: FormText = "", reason: FormText = ""
    ) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        try:
            file_dispute(svc.database, svc.lake, svc.clock, me, event_id, reason[:2000] or "-")
        except Refused as exc:
            named = {"event_id": event_id} | exc.extra
            words = refusal_text(exc.code, exc.message, _lang(request), **named)
            return _consumer_page(svc, request, me, message=words)
        return _back("/app#disputes")

    @app.post("/app/repairs", include_in_schema=False)
    def consumer_repair(request: Request, event_id: FormText = "") -> Response:
        """Asks for the repair of one of the person's bills, as POST /v1/me/repairs does; a
        refusal is shown as the page's message, in the page's language."""
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        policy = _policy(svc)
        try:
            if not re.match(ID_PATTERN, event_id):
                raise Refused(404, "no_record", f"you have no current record {event_id}.")
            ask_repair(
                svc.database,
                svc.lake,
                svc.settings.rejects_dir,
                svc.clock,
                policy,
                me,
                event_id,
            )
        except Refused as exc:
            record = next(
                (e for e in explainer_of(svc).events_of(me) if e["event_id"] == event_id),
                {"event_id": event_id},
            )
            words = _refusal_words(exc.code, exc.message, _lang(request), policy, record)
            return _consumer_page(svc, request, me, message=words)
        return _back("/app#repairs")

    @app.post("/app/refresh", include_in_schema=False)
    def consumer_refresh(request: Request) -> Response:
        svc = _service(request)
        me = _me(svc, request)
        if me is None:
            return _back("/app")
        lang = _lang(request)
        try:
            row = refresh(svc.database, svc.rescorer, me, svc.clock.now())
        except Refused as exc:
            words = refusal_text(exc.code, exc.message, lang, **exc.extra)
            return _consumer_page(svc, request, me, message=words)
        words = translator(lang)["refreshed"].format(score=row.score)
        return _consumer_page(svc, request, me, message=words)

    # -- partners -------------------------------------------------------------------------

    @app.get("/partner", include_in_schema=False)
    def partner_home(request: Request) -> Response:
        svc = _service(request)
        if _partner(svc, request) is None:
            return _login(request, "/partner/login", "partner_console", "api_key")
        return _page(
            request, "partner.html", signout="/partner/logout", purposes=authorizations.PURPOSES
        )

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
            signout="/partner/logout",
            purposes=authorizations.PURPOSES,
            result=json.dumps(result, ensure_ascii=False),
        )

    @app.post("/partner/logout", include_in_schema=False)
    def partner_logout() -> Response:
        response = _back("/partner")
        response.delete_cookie("pentascore_partner")
        return response

    # -- operators ------------------------------------------------------------------------

    @app.get("/ops", include_in_schema=False)
    def ops_home(request: Request) -> Response:
        svc = _service(request)
        if not _operator(svc, request):
            return _login(request, "/ops/login", "operator_console", "operator_token")
        return _ops_page(svc, request)

    @app.post("/ops/login", include_in_schema=False)
    async def ops_login(request: Request) -> Response:
        response = _back("/ops")
        secret = str((await _form(request)).get("secret") or "")
        response.set_cookie("pentascore_ops", secret, **_COOKIE)  # type: ignore[arg-type]
        return response

    @app.post("/ops/logout", include_in_schema=False)
    def ops_logout() -> Response:
        response = _back("/ops")
        response.delete_cookie("pentascore_ops")
        return response

    @app.get("/ops/monitoring", include_in_schema=False)
    def ops_monitoring(request: Request) -> Response:
        """The monitoring report (`pentascore report`) of the home's monthly runs, computed
        now: score and feature drift, band migration, matured vintages."""
        from pentascore.monitor.collect import home_report
        from pentascore.monitor.report import render
        from pentascore.scores.snapshots import FeatureSnapshots

        svc = _service(request)
        if not _operator(svc, request):
            return _back("/ops")
        rescorer = svc.rescorer
        report = home_report(
            history=rescorer.history,
            snapshots=FeatureSnapshots(svc.settings.features_dir),
            lake=svc.lake,
            engine=rescorer.engine,
            generated_at=svc.clock.now(),
            champion=rescorer.registry.champion(),
        )
        return HTMLResponse(render(report))

    @app.post("/ops/models/{version}/promote", include_in_schema=False)
    def ops_promote(version: str, request: Request) -> Response:
        """Makes ``version`` the champion (`ModelRegistry.promote`), audited as the operator's;
        explanations, what-ifs and refreshes use it at once, published scores at the next run."""
        svc = _service(request)
        if not _operator(svc, request):
            return _back("/ops")
        registry = svc.rescorer.registry
        if version == registry.champion():
            return _back("/ops#models")
        now = svc.clock.now()
        try:
            previous = registry.promote(version, now)
        except ModelError as exc:
            return _ops_page(svc, request, status=404, message=str(exc))
        with svc.database.session() as session:
            authorizations.audit(
                session,
                now,
                "operator",
                "model.promoted",
                None,
                version=version,
                replaced=previous,
                via="web",
            )
        return _back("/ops#models")

    @app.post("/ops/disputes/{dispute_id}", include_in_schema=False)
    def ops_decide(
        dispute_id: int, request: Request, note: FormText = "", decision: FormText = ""
    ) -> Response:
        svc = _service(request)
        if not _operator(svc, request):
            return _back("/ops")
        note = note[:2000] or "-"
        try:
            if decision == "uphold":
                svc.uphold_dispute(dispute_id, note, void=True)
            else:
                reject(svc.database, svc.clock, dispute_id, note)
        except Refused as exc:  # decided already (another tab, another operator), gone, or
            # its record cancelled since it was filed
            words = operator_refusal_text(
                exc.code, exc.message, _lang(request), dispute_id=dispute_id
            )
            return _ops_page(svc, request, status=exc.status, message=words)
        return _back("/ops")


def create_site(settings: Settings, **injected: Any) -> FastAPI:
    """The service's API with the pages on top: what `pentascore serve` runs."""
    app = create_app(settings, **injected)
    add_pages(app)
    return app


def site_from_env() -> FastAPI:
    """The site for ``uvicorn --factory`` (several workers): settings from the environment."""
    return create_site(Settings())
