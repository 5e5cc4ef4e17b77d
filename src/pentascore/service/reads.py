"""The partner's score read: allowed only under an active authorization for that partner,
person and purpose, and recorded, allowed or refused, in the transaction that reads.

This is the service's hot path (docs/benchmarks.md, "Score service (issue 5)"), so:

- one query returns the partner's authorizations for that person and purpose together with
  the person's latest score, joined only to an authorization whose row says active; whether
  one is in force is decided here, by `effective_status`, at the moment of the read, and the
  score is returned only then. Authorizations and scores are never cached: a revocation
  refuses the next read.
- one insert records the attempt, in the same transaction (on SQLite the transaction takes
  the write lock before the query, so nothing changes between the check and the record).
- the two statements are SQLAlchemy's, compiled once for the database's dialect and run on
  the driver's cursor with SQLAlchemy's own type conversions (`_Prepared`): the same SQL and
  values, without the per-execution bookkeeping that was most of a read's time.
- reads that arrive while a transaction of reads is running wait and go together in the next
  one (`ReadQueue`: one commit for several reads; on SQLite, on the event loop itself).
- the partner behind an API key is remembered for `PARTNER_TTL` seconds (`PartnerCache`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler
from starlette.concurrency import run_in_threadpool

from pentascore.core.types import Dimension
from pentascore.service.authorizations import PENDING_DAYS, Scope, Status, effective_status
from pentascore.service.db import Authorization, Database, Inquiry, Partner, PublishedScore

ALLOWED = "allowed"
RATE_LIMITED = "rate_limited"
_REFUSAL = {
    None: "no_authorization",
    Status.PENDING: "authorization_pending",
    Status.DECLINED: "authorization_declined",
    Status.REVOKED: "authorization_revoked",
    Status.EXPIRED: "authorization_expired",
}
NO_SCORE = "no_score"
PARTNER_TTL = 5.0  # seconds a partner found by its key is remembered

# The person's latest score: the latest as-of date, then the latest published.
_LATEST = (
    sa.select(
        PublishedScore.score,
        PublishedScore.band,
        PublishedScore.as_of,
        PublishedScore.model,
        *(getattr(PublishedScore, d.value) for d in Dimension),
        *(getattr(PublishedScore, f"{d.value}_radar") for d in Dimension),
    )
    .where(
        PublishedScore.user_ref == sa.bindparam("user_ref"), PublishedScore.withdrawn_at.is_(None)
    )
    .order_by(PublishedScore.as_of.desc(), PublishedScore.published_at.desc())
    .limit(1)
    .subquery("latest")
)
_AUTHORIZATION_COLUMNS = (
    Authorization.id,
    Authorization.scope,
    Authorization.status,
    Authorization.requested_at,
    Authorization.decided_at,
    Authorization.expires_at,
    Authorization.revoked_at,
)
# Every authorization of the partner for the person and purpose and, beside one whose row
# says active, the person's latest score.
_AUTHORIZATIONS_AND_SCORE = (
    sa.select(*_AUTHORIZATION_COLUMNS, *_LATEST.c)
    .select_from(Authorization)
    .outerjoin(_LATEST, Authorization.status == Status.ACTIVE.value)
    .where(
        Authorization.partner_id == sa.bindparam("partner_id"),
        Authorization.user_ref == sa.bindparam("user_ref"),
        Authorization.purpose == sa.bindparam("purpose"),
    )
)
_RECORDED = (
    "at",
    "partner_id",
    "user_ref",
    "purpose",
    "authorization_id",
    "outcome",
    "score",
    "as_of",
    "model",
    "exported",
)
_RECORD = sa.insert(Inquiry).values({c: sa.bindparam(c) for c in _RECORDED})
_SCORE_AT = len(_AUTHORIZATION_COLUMNS)
_DIMENSIONS = [d.value for d in Dimension]


@dataclass(frozen=True, slots=True)
class _Authorization:
    """The columns of an authorization a read looks at."""

    id: str
    scope: str
    status: str
    requested_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Score:
    """The published score a read returns; ``points`` and ``radar`` by dimension."""

    score: int
    band: str
    as_of: date
    model: str
    points: dict[str, int]
    radar: dict[str, int]


@dataclass(frozen=True)
class Read:
    """What a read returned: ``score`` only when ``outcome`` is ``allowed``; ``dimensions``
    only when the authorization's scope includes them. ``inquiry_id`` is the query record."""

    inquiry_id: int
    outcome: str
    score: Score | None
    dimensions: bool


@dataclass(frozen=True)
class ReadJob:
    """One partner read to carry out: ``throttled`` when the rate limit refused it (it is
    only recorded)."""

    partner_id: str
    user_ref: str
    purpose: str
    now: datetime
    throttled: bool = False


class _Prepared:
    """A statement compiled once for a dialect and run on the driver's cursor, its values
    and results converted by SQLAlchemy's processors for their column types."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._names = compiled.positiontup if compiled.positional else None
        binds = {n: compiled.binds[n] for n in set(compiled.bind_names.values())}
        self._fixed = {n: b.effective_value for n, b in binds.items() if not b.required}
        self._bind = {
            n: p
            for n, b in binds.items()
            if (p := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns: list[sa.ColumnElement[Any]] = (
            list(statement.selected_columns) if isinstance(statement, sa.Select) else []
        )
        self._results = [
            (i, p)
            for i, c in enumerate(columns)
            if (p := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        params = {**self._fixed, **values}
        for name, process in self._bind.items():
            params[name] = process(params[name])
        cursor.execute(self.sql, [params[n] for n in self._names] if self._names else params)
        return cursor

    def rows(self, cursor: Any) -> list[list[Any]]:
        rows = [list(row) for row in cursor.fetchall()]
        for row in rows:
            for i, process in self._results:
                if row[i] is not None:
                    row[i] = process(row[i])
        return rows


class _Statements:
    """The read path's statements for one database, and a batch of reads with them."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        # psycopg sends a batch's statements together, one round trip for all of them.
        self.pipeline = dialect.driver == "psycopg"
        self.query = _Prepared(_AUTHORIZATIONS_AND_SCORE, dialect)
        self.returning = bool(dialect.insert_returning)
        self.record = _Prepared(
            _RECORD.returning(Inquiry.id) if self.returning else _RECORD, dialect
        )

    def run(
        self, connection: sa.Connection, jobs: Sequence[ReadJob], wait: bool = True
    ) -> list[Read | None]:
        """Checks each authorization, reads each score, and records each attempt, in the
        caller's transaction (which commits all or nothing); None for a throttled job (only
        recorded). First every query, then every record: reads do not change what the
        queries see."""
        raw = connection.connection
        if self.sqlite:
            self._begin_immediate(raw, wait)
        found = self._each(raw, self.query, [_query(j) for j in jobs if not j.throttled])
        outcomes: list[_Outcome] = []
        rows = iter(found)
        for job in jobs:
            outcomes.append(_Outcome(RATE_LIMITED) if job.throttled else _decide(job, next(rows)))
        ids = self._each(
            raw, self.record, [_record(j, o) for j, o in zip(jobs, outcomes, strict=True)]
        )
        return [
            None if job.throttled else o.read(int(i[0][0]))
            for job, o, i in zip(jobs, outcomes, ids, strict=True)
        ]

    @staticmethod
    def _begin_immediate(raw: Any, wait: bool) -> None:
        """Takes SQLite's write lock before reading, so that the checks and the records are
        one transaction (SQLite would begin it only at the first insert). ``wait=False``:
        `_NotOnLoop` at once when another connection holds it (the busy timeout set aside for
        the attempt)."""
        cursor = raw.cursor()
        try:
            if wait:
                cursor.execute("BEGIN IMMEDIATE")
                return
            timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            cursor.execute("PRAGMA busy_timeout = 0")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise _NotOnLoop from exc
                raise
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")
        finally:
            cursor.close()

    def _each(
        self, raw: Any, statement: _Prepared, values: list[dict[str, Any]]
    ) -> list[list[list[Any]]]:
        """The statement run with each of ``values``: the rows of each (the new id, for
        an insert)."""
        if self.pipeline and len(values) > 1:
            with raw.driver_connection.pipeline():
                cursors = [statement.execute(raw.cursor(), v) for v in values]
                try:
                    return [statement.rows(c) for c in cursors]
                finally:
                    for c in cursors:
                        c.close()
        cursor = raw.cursor()
        try:
            out = []
            for v in values:
                statement.execute(cursor, v)
                out.append(
                    statement.rows(cursor)
                    if statement is self.query or self.returning
                    else [[cursor.lastrowid]]
                )
            return out
        finally:
            cursor.close()


def _query(job: ReadJob) -> dict[str, Any]:
    return {"partner_id": job.partner_id, "user_ref": job.user_ref, "purpose": job.purpose}


@dataclass(frozen=True)
class _Outcome:
    """What a read decided, before its record has an id."""

    outcome: str
    authorization: _Authorization | None = None
    score: Score | None = None

    def read(self, inquiry_id: int) -> Read:
        return Read(
            inquiry_id=inquiry_id,
            outcome=self.outcome,
            score=self.score if self.outcome == ALLOWED else None,
            dimensions=self.authorization is not None
            and self.outcome == ALLOWED
            and self.authorization.scope == Scope.SCORE_AND_DIMENSIONS.value,
        )


def _decide(job: ReadJob, rows: list[list[Any]]) -> _Outcome:
    """The read's outcome from the partner's authorizations for the person and purpose, at
    the moment of the read: the score only under one in force."""
    statuses = [(_effective(a, job.now), a, row) for a, row in ((_auth(r), r) for r in rows)]
    active = [(a, row) for status, a, row in statuses if status is Status.ACTIVE]
    if active:
        # The widest scope, then the longest-lived.
        chosen, row = max(
            active,
            key=lambda pair: (
                pair[0].scope == Scope.SCORE_AND_DIMENSIONS.value,
                pair[0].expires_at,
            ),
        )
        score = _score(row)
        return _Outcome(ALLOWED if score is not None else NO_SCORE, chosen, score)
    newest = max(statuses, key=lambda t: _changed_at(t[0], t[1]), default=None)
    if newest is None:
        return _Outcome(_REFUSAL[None])
    return _Outcome(_REFUSAL[newest[0]], newest[1])


def _record(job: ReadJob, o: _Outcome) -> dict[str, Any]:
    score = o.score if o.outcome == ALLOWED else None
    return {
        "at": job.now,
        "partner_id": job.partner_id,
        "user_ref": job.user_ref,
        "purpose": job.purpose,
        "authorization_id": o.authorization.id if o.authorization is not None else None,
        "outcome": o.outcome,
        "score": score.score if score else None,
        "as_of": score.as_of if score else None,
        "model": score.model if score else None,
        "exported": False,
    }


def _auth(row: list[Any]) -> _Authorization:
    return _Authorization(*row[:_SCORE_AT])


def _effective(a: _Authorization, now: datetime) -> Status:
    # effective_status reads only the status and the two dates, which the row carries.
    return effective_status(cast(Authorization, a), now)


def _score(row: list[Any]) -> Score | None:
    score, band, as_of, model, *rest = row[_SCORE_AT:]
    if score is None:
        return None
    n = len(_DIMENSIONS)
    return Score(
        score=score,
        band=band,
        as_of=as_of,
        model=model,
        points=dict(zip(_DIMENSIONS, rest[:n], strict=True)),
        radar=dict(zip(_DIMENSIONS, rest[n:], strict=True)),
    )


def _changed_at(status: Status, a: _Authorization) -> tuple[datetime, int]:
    """When the authorization last changed, to explain a refusal by the latest change (ties:
    the order of the lifecycle)."""
    if status is Status.EXPIRED:
        lapsed = a.requested_at + timedelta(days=PENDING_DAYS)
        at = a.expires_at if a.expires_at is not None else lapsed
    else:
        at = a.revoked_at or a.decided_at or a.requested_at
    return at, _LIFECYCLE.index(status)


_LIFECYCLE = [Status.PENDING, Status.ACTIVE, Status.DECLINED, Status.REVOKED, Status.EXPIRED]


class _NotOnLoop(Exception):
    """The batch cannot go on the event loop (SQLite's write lock is held elsewhere, or the
    batch failed and is to be retried read by read): it goes to a worker thread, whole."""


class ReadQueue:
    """Partner reads waiting for the database, carried out together: while one transaction
    of reads runs, the reads that arrive wait, and go in the next one (a group commit). Each
    read is still checked, and recorded, in the transaction that reads it, and answered only
    once that transaction committed. One batch at a time per process.

    On SQLite a batch runs on the event loop itself: the work is a few dozen microseconds
    of the CPU per read, and a worker thread would spend more than that handing the GIL back
    and forth. It runs there only when the write lock is free at once; when another
    connection holds it (a consumer's decision, the inquiry export, another process), the
    batch waits for it in a worker thread instead, never on the loop. On PostgreSQL, where
    the time goes waiting for the server, every batch runs in a worker thread.
    """

    def __init__(self, max_batch: int = 64) -> None:
        self.max_batch = max_batch
        self._waiting: list[tuple[ReadJob, asyncio.Future[Read | None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None
        self._statements: _Statements | None = None

    async def read(self, database: Database, job: ReadJob) -> Read | None:
        """The read (None when throttled: then only recorded)."""
        loop = asyncio.get_running_loop()
        if self._drain is not None and self._loop is not loop:
            # Another event loop is draining (tests run one per client): go alone.
            alone = (await run_in_threadpool(self.run, database, [job]))[0]
            if isinstance(alone, Exception):
                raise alone
            return alone
        future: asyncio.Future[Read | None] = loop.create_future()
        self._waiting.append((job, future))
        if self._drain is None:
            self._loop = loop
            self._drain = loop.create_task(self._run(database))
        return await future

    async def _run(self, database: Database) -> None:
        on_loop = database.engine.dialect.name == "sqlite"
        try:
            while self._waiting:
                # Let the requests already read from the sockets join this batch.
                await asyncio.sleep(0)
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                jobs = [job for job, _ in batch]
                results: list[Read | Exception | None]
                try:
                    try:
                        if not on_loop:
                            raise _NotOnLoop
                        results = self.run(database, jobs, wait=False)
                    except _NotOnLoop:
                        results = await run_in_threadpool(self.run, database, jobs)
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away; the read was recorded all the same
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drain = None
            self._loop = None

    def run(
        self, database: Database, jobs: Sequence[ReadJob], wait: bool = True
    ) -> list[Read | Exception | None]:
        """The reads, each with its query record, in one transaction (None for a throttled
        one). Should that transaction fail, each read is tried again in a transaction of its
        own, so that one read's error is only that read's. ``wait=False`` (on the event loop):
        raises `_NotOnLoop` rather than wait for SQLite's write lock or retry."""
        if self._statements is None:
            self._statements = _Statements(database.engine.dialect)
        statements = self._statements
        try:
            with database.engine.begin() as connection:
                return list(statements.run(connection, jobs, wait))
        except _NotOnLoop:
            raise
        except Exception as exc:
            if not wait:  # rolled back, nothing recorded: again, in a worker thread
                raise _NotOnLoop from exc
            if len(jobs) == 1:
                raise
        results: list[Read | Exception | None] = []
        for job in jobs:
            try:
                with database.engine.begin() as connection:
                    results.extend(statements.run(connection, [job]))
            except Exception as exc:
                results.append(exc)
        return results


class PartnerCache:
    """Partners by the hash of their key, each remembered for ``ttl`` seconds: a partner
    disabled (or whose rate limit changed) is seen within ``ttl`` seconds. Keys that match no
    partner are not remembered, so a new partner's key works at once. The entries are
    detached rows, read and never changed; safe to share between threads."""

    def __init__(
        self, ttl: float = PARTNER_TTL, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._entries: dict[str, tuple[float, Partner]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Partner | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] <= self.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, partner: Partner) -> None:
        with self._lock:
            now = self.monotonic()
            if len(self._entries) > 10_000:  # keys are few; never let the table grow unbounded
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            self._entries[key_hash] = (now + self.ttl, partner)
