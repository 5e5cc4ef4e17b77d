"""The HTTP API: a thin shell over the service's functions, deny by default.

Who may call what is decided by one dependency per kind of caller: `partner` (X-API-Key),
`consumer` (a person's bearer token), `operator` (the operators' bearer token). A route
without one of them serves nothing about anyone. The one way around the routes,
`fast_read.FastReads`, answers only partner reads whose key `partner` checked moments ago,
with the route's own code (`read_answer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter

from pentascore.core.clock import Clock, SystemClock
from pentascore.core.errors import PentascoreError, StrictIngestError
from pentascore.core.settings import Settings
from pentascore.core.types import Dimension
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import ID_PATTERN
from pentascore.features.engine import FeatureEngine, make_engine
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.lake.store import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.scores.history import ScoreHistory
from pentascore.service import authorizations
from pentascore.service.authorizations import Decision, Status, audit
from pentascore.service.credentials import hash_secret, same_secret
from pentascore.service.db import (
    Authorization,
    ConsumerToken,
    Database,
    Dispute,
    Inquiry,
    Partner,
    PublishedScore,
    open_database,
)
from pentascore.service.disputes import uphold
from pentascore.service.errors import Refused
from pentascore.service.fast_read import FastReads
from pentascore.service.inquiry_export import export_inquiries
from pentascore.service.limits import BodyLimit, TokenBuckets
from pentascore.service.published import history, latest
from pentascore.service.reads import (
    ALLOWED,
    NO_SCORE,
    PartnerCache,
    Read,
    ReadJob,
    ReadQueue,
    Score,
)
from pentascore.service.refresh import Rescorer, refresh
from pentascore.service.schemas import (
    MAX_PAGE,
    AuthorizationOut,
    AuthorizationRequest,
    DimensionPoints,
    EventBatch,
    EventReject,
    EventResult,
    HistoryItem,
    InquiryOut,
    MyScore,
    Page,
    PartnerScore,
    Pong,
    Problem,
    Purpose,
    Revocation,
)

log = logging.getLogger(__name__)

# How many user ids' pseudonyms a service remembers (`Service.user_ref`): at about 250 bytes
# an id, a few MB at most.
USER_REFS_KEPT = 16_384

_REFUSALS = {
    "no_authorization": "you hold no authorization from this person for this purpose.",
    "authorization_pending": "the person has not answered your request yet.",
    "authorization_declined": "the person declined your request.",
    "authorization_revoked": "the person revoked your authorization.",
    "authorization_expired": "your authorization has expired; ask again.",
}


@dataclass(frozen=True)
class Service:
    """Everything a request needs, built once by `create_app`."""

    settings: Settings
    database: Database
    clock: Clock
    key: bytes
    lake: ParquetLake
    rescorer: Rescorer
    buckets: TokenBuckets
    operator_token: str | None
    partners: PartnerCache = field(default_factory=PartnerCache)
    reads: ReadQueue = field(default_factory=ReadQueue)
    # The pseudonyms of the user ids seen last (`user_ref`), this service's own.
    _user_refs: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pseudonym = partial(pseudonymize_value, self.key, "user_id")
        object.__setattr__(self, "_user_refs", lru_cache(maxsize=USER_REFS_KEPT)(pseudonym))

    def uphold_dispute(self, dispute_id: int, note: str, **decision: Any) -> Dispute:
        """`disputes.uphold` (``changes=...`` or ``void=True``) on this service's database,
        lake, clock and rescorer: the operator API and the operator console both decide so."""
        return uphold(
            self.database,
            self.lake,
            self.settings.rejects_dir,
            self.clock,
            self.rescorer,
            dispute_id,
            note,
            **decision,
        )

    def user_ref(self, user_id: str) -> str:
        """The pseudonym of a user id (an HMAC), remembered for the `USER_REFS_KEPT` ids
        seen last, so a partner reading the same person again skips the HMAC."""
        return self._user_refs(user_id)


def _service(request: Request) -> Service:
    svc = request.app.state.service
    assert isinstance(svc, Service)
    return svc


ServiceDep = Annotated[Service, Depends(_service)]
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A partner's key.")
_bearer = HTTPBearer(auto_error=False, description="A person's token or the operator token.")


def partner(svc: ServiceDep, key: Annotated[str | None, Security(_api_key)] = None) -> Partner:
    """The partner whose key was sent. Partners are remembered by key hash for a few seconds
    (`svc.partners`): a partner disabled is refused at the latest that many seconds later."""
    if not key:
        raise Refused(401, "missing_api_key", "send your partner key in the X-API-Key header.")
    key_hash = hash_secret(key)
    found = svc.partners.get(key_hash)
    if found is None:
        with svc.database.session() as session:
            found = session.scalar(sa.select(Partner).where(Partner.key_hash == key_hash))
        if found is None:
            raise Refused(401, "bad_api_key", "this partner key is not known.")
        svc.partners.put(key_hash, found)
    if found.disabled_at is not None:
        raise Refused(403, "partner_disabled", "this partner has been disabled.")
    return found


async def _reader(
    request: Request, key: Annotated[str | None, Security(_api_key)] = None
) -> Partner:
    """`partner` for the score read, on the event loop: the database only when the key is
    not remembered."""
    svc = _service(request)
    if key:
        found = svc.partners.get(hash_secret(key))
        if found is not None and found.disabled_at is None:
            return found
    return await run_in_threadpool(partner, svc, key)


def consumer(
    svc: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> str:
    """The person's pseudonym, from their bearer token."""
    if credentials is None:
        raise Refused(401, "missing_token", "send your token as 'Authorization: Bearer ...'.")
    with svc.database.session() as session:
        user_ref = session.scalar(
            sa.select(ConsumerToken.user_ref).where(
                ConsumerToken.token_hash == hash_secret(credentials.credentials),
                ConsumerToken.revoked_at.is_(None),
            )
        )
    if user_ref is None:
        raise Refused(401, "bad_token", "this token is not known or was revoked.")
    return user_ref


def _is_operator(svc: Service, credentials: HTTPAuthorizationCredentials | None) -> bool:
    return (
        credentials is not None
        and svc.operator_token is not None
        and same_secret(credentials.credentials, svc.operator_token)
    )


def operator(
    svc: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    if not _is_operator(svc, credentials):
        raise Refused(401, "not_operator", "this needs the operator token.")


def furnisher(
    svc: ServiceDep,
    key: Annotated[str | None, Security(_api_key)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> str:
    """An operator, or a partner registered as a data furnisher: the actor's name."""
    if _is_operator(svc, credentials):
        return "operator"
    if key:
        found = partner(svc, key)
        if found.furnisher:
            _throttle(svc, found)
            return f"partner:{found.id}"
        raise Refused(403, "not_furnisher", "this partner is not registered to send events.")
    raise Refused(401, "not_furnisher", "send the operator token or a furnisher's partner key.")


def computing_consumer(svc: ServiceDep, me: Annotated[str, Depends(consumer)]) -> str:
    """A person asking for something that rescores them from the lake (an explanation, a
    what-if, a refresh): limited per person, since each costs a query over their events."""
    wait = svc.buckets.take(f"consumer:{me}", svc.settings.consumer_computations_per_minute)
    if wait:
        raise Refused(
            429,
            "rate_limited",
            "too many score computations in a short time; try again shortly.",
            retry_after=round(wait, 3),
        )
    return me


PartnerDep = Annotated[Partner, Depends(partner)]
ConsumerDep = Annotated[str, Depends(consumer)]
ComputingConsumerDep = Annotated[str, Depends(computing_consumer)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _wait(svc: Service, found: Partner) -> float:
    return svc.buckets.take(
        found.id, found.reads_per_minute or svc.settings.partner_reads_per_minute
    )


def _throttle(svc: Service, found: Partner) -> None:
    wait = _wait(svc, found)
    if wait:
        raise _rate_limited(wait)


def _rate_limited(wait: float) -> Refused:
    return Refused(
        429, "rate_limited", "too many requests from this partner.", retry_after=round(wait, 3)
    )


async def guarded_read(svc: Service, found: Partner, user_id: str, purpose: str) -> Read:
    """The partner's read of the person's score for ``purpose``, through the read path
    (authorization checked and attempt recorded in one transaction, rate-limited attempts
    too); refused with the reason unless a score came back."""
    wait = _wait(svc, found)
    read = await svc.reads.read(
        svc.database,
        ReadJob(found.id, svc.user_ref(user_id), purpose, svc.clock.now(), throttled=bool(wait)),
    )
    if read is None:
        raise _rate_limited(wait)
    if read.outcome == NO_SCORE:
        raise Refused(404, NO_SCORE, "this person has no score yet.")
    if read.outcome != ALLOWED or read.score is None:
        raise Refused(403, read.outcome, _REFUSALS.get(read.outcome, "refused."))
    return read


_PARTNER_SCORE = TypeAdapter(PartnerScore)


def _partner_score(read: Read) -> PartnerScore:
    assert read.score is not None
    return PartnerScore(
        score=read.score.score,
        band=read.score.band,
        as_of=read.score.as_of,
        model=read.score.model,
        inquiry_id=read.inquiry_id,
        dimensions=_read_dimensions(read.score) if read.dimensions else None,
    )


async def read_answer(svc: Service, found: Partner, user_id: str, purpose: str) -> Response:
    """The answer to a partner's read: the score as the route's response model serializes
    it (the fields that are not null), or the refusal as the `Refused` handler writes it.
    The route and `FastReads` both answer with it."""
    try:
        read = await guarded_read(svc, found, user_id, purpose)
    except Refused as exc:
        return refusal(exc)
    body = _PARTNER_SCORE.dump_json(_partner_score(read), exclude_none=True, by_alias=True)
    return Response(body, media_type="application/json")


def _next(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def _authorization_out(a: Authorization, effective: Status, partner_name: str) -> AuthorizationOut:
    return AuthorizationOut(
        authorization_id=a.id,
        partner_id=a.partner_id,
        partner_name=partner_name,
        purpose=a.purpose,
        scope=authorizations.Scope(a.scope),
        days=a.days,
        status=effective,
        requested_at=a.requested_at,
        decided_at=a.decided_at,
        expires_at=a.expires_at,
        revoked_at=a.revoked_at,
        reason=a.reason,
    )


def _dimensions(row: PublishedScore) -> dict[str, DimensionPoints]:
    return {
        d.value: DimensionPoints(
            points=getattr(row, d.value), radar=getattr(row, f"{d.value}_radar")
        )
        for d in Dimension
    }


def _my_score(row: PublishedScore) -> MyScore:
    return MyScore(
        score=row.score,
        band=row.band,
        as_of=row.as_of,
        model=row.model,
        base=row.base,
        dimensions=_dimensions(row),
    )


def _read_dimensions(score: Score) -> dict[str, DimensionPoints]:
    return {
        d: DimensionPoints(points=points, radar=score.radar[d])
        for d, points in score.points.items()
    }


PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 413, 429)
}


def _routes(app: FastAPI) -> None:
    @app.get("/v1/ping", response_model=Pong, tags=["service"])
    async def ping() -> Pong:
        """A constant: the bare endpoint the benchmark compares reads with."""
        return Pong()

    # -- partners ---------------------------------------------------------------------------

    @app.post(
        "/v1/authorizations",
        response_model=AuthorizationOut,
        status_code=status.HTTP_201_CREATED,
        responses=PROBLEMS,
        tags=["partners"],
    )
    def ask(
        body: AuthorizationRequest, svc: ServiceDep, found: PartnerDep
    ) -> AuthorizationOut | JSONResponse:
        """Ask a person for an authorization to read their score for a purpose. The same
        request while one is still pending returns that one (200)."""
        _throttle(svc, found)
        now = svc.clock.now()
        with svc.database.session() as session:
            made, new = authorizations.request(
                session,
                found,
                svc.user_ref(body.user_id),
                body.purpose.value,
                body.scope,
                body.days,
                now,
            )
            out = _authorization_out(made, authorizations.effective_status(made, now), found.name)
        if not new:
            return JSONResponse(out.model_dump(mode="json"), status_code=200)
        return out

    @app.get(
        "/v1/authorizations",
        response_model=Page[AuthorizationOut],
        responses=PROBLEMS,
        tags=["partners"],
    )
    def partner_authorizations(
        svc: ServiceDep,
        found: PartnerDep,
        user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        status: Status | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Page[AuthorizationOut]:
        """Your authorizations, newest first."""
        _throttle(svc, found)
        now = svc.clock.now()
        with svc.database.session() as session:
            rows, more = authorizations.listing(
                session,
                now,
                partner_id=found.id,
                user_ref=svc.user_ref(user_id) if user_id else None,
                status=status,
                offset=offset,
                limit=limit,
            )
            items = [_authorization_out(*row) for row in rows]
        return Page(items=items, next_offset=_next(offset, limit, more))

    @app.get(
        "/v1/authorizations/{authorization_id}",
        response_model=AuthorizationOut,
        responses=PROBLEMS,
        tags=["partners"],
    )
    def partner_authorization(
        authorization_id: str, svc: ServiceDep, found: PartnerDep
    ) -> AuthorizationOut:
        _throttle(svc, found)
        with svc.database.session() as session:
            a = session.get(Authorization, authorization_id)
            if a is None or a.partner_id != found.id:
                raise Refused(404, "not_found", f"no authorization {authorization_id} of yours.")
            return _authorization_out(
                a, authorizations.effective_status(a, svc.clock.now()), found.name
            )

    @app.get(
        "/v1/scores/{user_id}",
        response_model=PartnerScore,
        response_model_exclude_none=True,
        responses=PROBLEMS,
        tags=["partners"],
    )
    async def partner_read(
        user_id: Annotated[str, Path(pattern=ID_PATTERN)],
        purpose: Purpose,
        request: Request,
        found: Annotated[Partner, Depends(_reader)],
    ) -> Response:
        """A person's score, under your active authorization for this purpose. Every
        attempt, allowed or refused, leaves a query record the person can see."""
        # Most reads never get here: `FastReads` answers them, with `read_answer` too.
        return await read_answer(_service(request), found, user_id, purpose.value)

    # -- consumers --------------------------------------------------------------------------

    @app.get("/v1/me/score", response_model=MyScore, responses=PROBLEMS, tags=["me"])
    def my_score(svc: ServiceDep, me: ConsumerDep) -> MyScore:
        """Your latest score, its band and its five dimensions."""
        now = svc.clock.now()
        with svc.database.session() as session:
            row = latest(session, me)
            if row is None:
                raise svc.rescorer.unscoreable(me, now)
            audit(session, now, "consumer", "score.viewed", me)
            return _my_score(row)

    @app.get("/v1/me/history", response_model=Page[HistoryItem], responses=PROBLEMS, tags=["me"])
    def my_history(
        svc: ServiceDep, me: ConsumerDep, offset: Offset = 0, limit: Limit = 50
    ) -> Page[HistoryItem]:
        """Your scores over time, newest first."""
        with svc.database.session() as session:
            rows, more = history(session, me, offset, limit)
            audit(session, svc.clock.now(), "consumer", "history.viewed", me)
            items = [
                HistoryItem(as_of=r.as_of, model=r.model, score=r.score, band=r.band) for r in rows
            ]
        return Page(items=items, next_offset=_next(offset, limit, more))

    @app.get("/v1/me/inquiries", response_model=Page[InquiryOut], responses=PROBLEMS, tags=["me"])
    def my_inquiries(
        svc: ServiceDep, me: ConsumerDep, offset: Offset = 0, limit: Limit = 50
    ) -> Page[InquiryOut]:
        """Who read or tried to read your score, when, for what, under which authorization;
        newest first. Kept for good (at least the 12 months the rules ask for)."""
        with svc.database.session() as session:
            rows = session.execute(
                sa.select(Inquiry, Partner.name)
                .join(Partner, Partner.id == Inquiry.partner_id)
                .where(Inquiry.user_ref == me)
                .order_by(Inquiry.id.desc())
                .offset(offset)
                .limit(limit + 1)
            ).all()
            items = [
                InquiryOut(
                    inquiry_id=q.id,
                    at=q.at,
                    partner_id=q.partner_id,
                    partner_name=name,
                    purpose=q.purpose,
                    authorization_id=q.authorization_id,
                    outcome=q.outcome,
                    decision=q.decision,
                )
                for q, name in rows[:limit]
            ]
        return Page(items=items, next_offset=_next(offset, limit, len(rows) > limit))

    @app.get(
        "/v1/me/authorizations",
        response_model=Page[AuthorizationOut],
        responses=PROBLEMS,
        tags=["me"],
    )
    def my_authorizations(
        svc: ServiceDep,
        me: ConsumerDep,
        status: Status | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Page[AuthorizationOut]:
        """Requests and authorizations about you, newest first."""
        with svc.database.session() as session:
            rows, more = authorizations.listing(
                session, svc.clock.now(), user_ref=me, status=status, offset=offset, limit=limit
            )
            items = [_authorization_out(*row) for row in rows]
        return Page(items=items, next_offset=_next(offset, limit, more))

    def _decide(
        svc: Service, me: str, authorization_id: str, decision: Decision, reason: str = ""
    ) -> AuthorizationOut:
        now = svc.clock.now()
        with svc.database.session() as session:
            a = authorizations.decide(session, me, authorization_id, decision, now, reason)
            name = session.scalar(sa.select(Partner.name).where(Partner.id == a.partner_id))
            return _authorization_out(a, authorizations.effective_status(a, now), name or "")

    @app.post(
        "/v1/me/authorizations/{authorization_id}/grant",
        response_model=AuthorizationOut,
        responses=PROBLEMS,
        tags=["me"],
    )
    def grant(authorization_id: str, svc: ServiceDep, me: ConsumerDep) -> AuthorizationOut:
        """Grant a pending request: the partner may read for its purpose, for its days."""
        return _decide(svc, me, authorization_id, Decision.GRANT)

    @app.post(
        "/v1/me/authorizations/{authorization_id}/decline",
        response_model=AuthorizationOut,
        responses=PROBLEMS,
        tags=["me"],
    )
    def decline(authorization_id: str, svc: ServiceDep, me: ConsumerDep) -> AuthorizationOut:
        return _decide(svc, me, authorization_id, Decision.DECLINE)

    @app.post(
        "/v1/me/authorizations/{authorization_id}/revoke",
        response_model=AuthorizationOut,
        responses=PROBLEMS,
        tags=["me"],
    )
    def revoke(
        authorization_id: str, body: Revocation, svc: ServiceDep, me: ConsumerDep
    ) -> AuthorizationOut:
        """Revoke an active authorization; the partner's next read is refused."""
        return _decide(svc, me, authorization_id, Decision.REVOKE, body.reason)

    @app.post("/v1/me/score/refresh", response_model=MyScore, responses=PROBLEMS, tags=["me"])
    def my_refresh(svc: ServiceDep, me: ComputingConsumerDep) -> MyScore:
        """Rescore yourself from your events now; once per calendar month."""
        return _my_score(refresh(svc.database, svc.rescorer, me, svc.clock.now()))

    # -- events -----------------------------------------------------------------------------

    @app.post("/v1/events", response_model=EventResult, responses=PROBLEMS, tags=["events"])
    def post_events(
        body: EventBatch,
        svc: ServiceDep,
        actor: Annotated[str, Depends(furnisher)],
        strict: bool = False,
    ) -> EventResult:
        """Events, checked as the CLI's ingest checks them: one batch, atomic, idempotent by
        event_id; each bad row is named with its field and why (rows count from 1)."""
        try:
            report = ingest_chunks(
                [records_chunk(body.events, "request")],
                lake=svc.lake,
                key=svc.key,
                rejects_dir=svc.settings.rejects_dir,
                clock=svc.clock,
                strict=strict,
            )
        except StrictIngestError as exc:
            raise Refused(
                422,
                "rejected_row",
                f"row {exc.row}: {exc.field}: {exc.reason} (strict: nothing was stored)",
            ) from exc
        rejects: list[EventReject] = []
        if report.rejects_file is not None:
            with report.rejects_file.open() as fh:
                rejects = [EventReject.model_validate(json.loads(line)) for line in fh]
        with svc.database.session() as session:
            audit(
                session,
                svc.clock.now(),
                actor,
                "events.posted",
                None,
                batch_id=report.batch_id,
                accepted=report.accepted,
                duplicates=report.duplicates,
                rejected=report.rejected,
            )
        return EventResult(
            batch_id=report.batch_id,
            accepted=report.accepted,
            duplicates=report.duplicates,
            rejected=report.rejected,
            rejects=rejects,
        )


def refusal(exc: Refused) -> JSONResponse:
    """A refusal's answer: its status, ``{"error": ..., "message": ..., ...}``, and
    ``Retry-After`` on a 429."""
    headers = {}
    if exc.status == 429:
        retry = exc.extra.get("retry_after")
        headers["Retry-After"] = str(max(1, round(retry))) if retry else "3600"
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return refusal(exc)


async def _export_periodically(svc: Service) -> None:
    while True:
        await asyncio.sleep(svc.settings.inquiry_export_seconds)
        try:
            await run_in_threadpool(
                export_inquiries, svc.database, svc.lake, svc.settings.rejects_dir, svc.clock
            )
        except PentascoreError as exc:  # the lake busy with an ingest: next time
            log.warning("inquiry export postponed: %s", exc)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    engine: FeatureEngine | None = None,
    fast_reads: bool = True,
) -> FastAPI:
    """The score service for ``settings``; ``clock``, ``database`` and ``engine`` are
    injected by tests (a moved clock, a PostgreSQL database, ...), which also compare the
    partner read's route with ``fast_reads`` (`FastReads`) off."""
    database = database if database is not None else Database(settings.database)
    database.check_current()
    clock = clock if clock is not None else SystemClock()
    lake = ParquetLake(settings.lake_dir, small_batches=True)
    svc = Service(
        settings=settings,
        database=database,
        clock=clock,
        key=settings.resolve_pseudonym_key(),
        lake=lake,
        rescorer=Rescorer(
            engine=engine if engine is not None else make_engine("duckdb"),
            lake=lake,
            history=ScoreHistory(settings.scores_dir),
            registry=ModelRegistry(settings.models_dir),
        ),
        buckets=TokenBuckets(clock),
        operator_token=settings.checked_operator_token(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What the process holds once started (modules, the app, its routes and models,
        # some 200,000 objects) lives as long as it does: kept out of the collector's full
        # passes, each of which would otherwise stop every request for about 0.1 s.
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(_export_periodically(svc))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await svc.reads.aclose()
            lake.close()

    app = FastAPI(
        title="pentascore",
        version="1",
        summary="Behavioral credit scores, read only with the person's authorization.",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.add_exception_handler(Refused, _refused)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if fast_reads:
        # Outermost of the app's own middleware: a read it answers skips the rest.
        app.add_middleware(FastReads, partners=svc.partners, answer=partial(read_answer, svc))
    _routes(app)
    # Explanations and remedies live in their own module, which imports this one's
    # dependencies: imported here, once this module is complete.
    from pentascore.service import remedies, scenario_routes

    remedies.add_routes(app)
    scenario_routes.add_routes(app)
    return app


def migrated(settings: Settings) -> Database:
    """The settings' database, brought to the newest schema."""
    return open_database(settings.database)
