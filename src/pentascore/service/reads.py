"""The partner's score read: allowed only under an active authorization for that partner,
person and purpose, and recorded, allowed or refused, in the transaction that reads.

This is the service's hot path (docs/benchmarks.md, "Score service (issue 5)"), so:

- the decision is SQL (`_decided`): one query finds the partner's authorizations for that
  person and purpose, takes the one that decides (one in force, else the latest change, to
  explain the refusal), says the outcome, and joins the person's latest score only to an
  authorization in force. Whether one is in force is decided by the database at the moment
  of the read, with the rules of `authorizations.effective_status`. Authorizations and
  scores are never cached: a revocation refuses the next read.
- the attempt is recorded in the same transaction: on PostgreSQL by the same statement (a
  data-modifying CTE), so a whole batch of reads is one round trip and one transaction; on
  SQLite by an insert after the query, in a transaction that took the write lock before it.
- the statements are SQLAlchemy's, compiled once for the database's dialect and run on the
  driver's own connection with SQLAlchemy's own type conversions (`_Prepared`): the same
  SQL and values, without the per-execution bookkeeping that was most of a read's time.
- reads that arrive while a transaction of reads is running wait and go together in the next
  one (`ReadQueue`: one commit for several reads).
- the queue keeps connections of its own, outside SQLAlchemy's pool (no checkout, no ping,
  no begin per batch): on SQLite the driver's, used on the event loop, whose WAL
  checkpoints run in a thread of their own; on PostgreSQL asyncpg connections on the event
  loop, one per batch in flight (several batches overlap their waits for the disk).
  Whatever goes wrong there (a write lock held elsewhere, a failed statement, a lost
  connection) sends the batch to the engine in a worker thread, where each read is retried
  alone.
- the partner behind an API key is remembered for `PARTNER_TTL` seconds (`PartnerCache`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from starlette.concurrency import run_in_threadpool

from pentascore.core.types import Dimension
from pentascore.service.authorizations import PENDING_DAYS, Scope, Status, ran_out
from pentascore.service.db import (
    Authorization,
    Database,
    Inquiry,
    Partner,
    PublishedScore,
    UTCDateTime,
)

log = logging.getLogger(__name__)

ALLOWED = "allowed"
RATE_LIMITED = "rate_limited"
NO_AUTHORIZATION = "no_authorization"
_REFUSAL = {
    Status.PENDING: "authorization_pending",
    Status.DECLINED: "authorization_declined",
    Status.REVOKED: "authorization_revoked",
    Status.EXPIRED: "authorization_expired",
}
NO_SCORE = "no_score"
# Every outcome a query record can have.
OUTCOMES = (ALLOWED, RATE_LIMITED, NO_AUTHORIZATION, *_REFUSAL.values(), NO_SCORE)
PARTNER_TTL = 5.0  # seconds a partner found by its key is remembered
POSTGRES_LANES = 4  # PostgreSQL: batches of reads in flight at once, per process
CHECKPOINT_SECONDS = 1.0  # SQLite: a WAL checkpoint (in a thread) after this long of reads

# An authorization's states in the order of its lifecycle: of two that changed at the same
# moment, the later state explains a refusal.
_LIFECYCLE = [Status.PENDING, Status.ACTIVE, Status.DECLINED, Status.REVOKED, Status.EXPIRED]
# What a read is given: the partner, person and purpose, the moment of the read, the moment
# before which a request nobody answered has lapsed, and whether the rate limit refused it.
_REQUEST: dict[str, sa.types.TypeEngine[Any]] = {
    "partner_id": sa.String(),
    "user_ref": sa.String(),
    "purpose": sa.String(),
    "now": UTCDateTime(),
    "lapsed": UTCDateTime(),
    "throttled": sa.Boolean(),
}
_SCORE_COLUMNS = (
    PublishedScore.score,
    PublishedScore.band,
    PublishedScore.as_of,
    PublishedScore.model,
    *(getattr(PublishedScore, d.value) for d in Dimension),
    *(getattr(PublishedScore, f"{d.value}_radar") for d in Dimension),
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


class _days_after(sa.sql.functions.FunctionElement[datetime]):
    """``at`` plus a whole number of days, on the database (SQLite keeps datetimes as text in
    SQLAlchemy's format, ``YYYY-MM-DD HH:MM:SS.ffffff``, so that is what it makes)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "days_after"


@compiles(_days_after, "postgresql")
def _days_after_postgresql(element: _days_after, compiler: SQLCompiler, **kw: Any) -> str:
    at, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({at} + make_interval(days => {days}))"


@compiles(_days_after, "sqlite")
def _days_after_sqlite(element: _days_after, compiler: SQLCompiler, **kw: Any) -> str:
    at, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strftime('%Y-%m-%d %H:%M:%S', {at}, '+{days} days') || substr({at}, 20))"


def _constant(value: str | int) -> sa.ColumnElement[Any]:
    """One of the code's own constants (a state, an outcome, a number of days), written into
    the SQL rather than bound again on every read."""
    if isinstance(value, int):
        return sa.literal_column(str(value), sa.Integer())
    return sa.literal_column("'" + str(value).replace("'", "''") + "'", sa.String())


def _decided(request: sa.CTE, latest_of: sa.ColumnElement[str] | None) -> sa.Select[Any]:
    """Each ``request`` row's decision: ``ord``, the moment, partner, person and purpose, the
    deciding authorization's id and scope, the ``outcome``, and the score's columns (only
    when it is allowed). The person's latest score is the latest as-of date, then the latest
    published, of ``latest_of`` (a single read's bound person) or else of each row's person
    (a lateral join, for a batch).

    The deciding authorization is one in force (the widest scope, then the longest-lived),
    else the one that changed last, whose state explains the refusal (ties: the later state
    of the lifecycle). In force is `authorizations.effective_status`'s rule, written once as
    SQL in `authorizations.ran_out`: active and not run out, pending and not lapsed, else
    expired."""
    r, a, k = request.c, Authorization, _constant
    a_expired = ran_out(r.now, r.lapsed, state=k)
    found = (
        sa.select(
            r.ord,
            a.id,
            a.scope,
            a.requested_at,
            a.decided_at,
            a.expires_at,
            a.revoked_at,
            sa.case((a_expired, k(Status.EXPIRED)), else_=a.status).label("effective"),
        )
        .select_from(request)
        .join(
            a,
            sa.and_(
                a.partner_id == r.partner_id,
                a.user_ref == r.user_ref,
                a.purpose == r.purpose,
                sa.not_(r.throttled),
            ),
        )
        .subquery("found")
    )
    f = found.c
    active = f.effective == k(Status.ACTIVE)
    changed = sa.case(
        (
            f.effective == k(Status.EXPIRED),
            sa.func.coalesce(f.expires_at, _days_after(f.requested_at, k(PENDING_DAYS))),
        ),
        else_=sa.func.coalesce(f.revoked_at, f.decided_at, f.requested_at),
    )
    deciding_first = [
        active.desc(),
        sa.case((active, f.scope == k(Scope.SCORE_AND_DIMENSIONS))).desc(),
        sa.case((active, f.expires_at)).desc(),
        changed.desc(),
        sa.case(*((f.effective == k(s), k(i)) for i, s in enumerate(_LIFECYCLE))).desc(),
    ]
    candidate = sa.select(
        f.ord,
        f.id,
        f.scope,
        f.effective,
        sa.func.row_number().over(partition_by=f.ord, order_by=deciding_first).label("rank"),
    ).subquery("candidate")
    latest = (
        sa.select(*_SCORE_COLUMNS)
        .where(
            PublishedScore.user_ref == (r.user_ref if latest_of is None else latest_of),
            PublishedScore.withdrawn_at.is_(None),
        )
        .order_by(PublishedScore.as_of.desc(), PublishedScore.published_at.desc())
        .limit(k(1))
    )
    score = latest.subquery("latest") if latest_of is not None else latest.lateral("latest")
    c = candidate.c
    in_force = c.effective == k(Status.ACTIVE)
    outcome = sa.case(
        (r.throttled, k(RATE_LIMITED)),
        (c.id.is_(None), k(NO_AUTHORIZATION)),
        (in_force, sa.case((score.c.score.is_(None), k(NO_SCORE)), else_=k(ALLOWED))),
        *((c.effective == k(s), k(why)) for s, why in _REFUSAL.items()),
    )
    return (
        sa.select(
            r.ord,
            r.now.label("at"),
            r.partner_id,
            r.user_ref,
            r.purpose,
            c.id.label("authorization_id"),
            c.scope,
            outcome.label("outcome"),
            *score.c,
        )
        .select_from(request)
        .outerjoin(candidate, sa.and_(c.ord == r.ord, c.rank == k(1)))
        .outerjoin(score, in_force)
    )


# One read, from bound values (SQLite, and any database through the engine).
_ONE = sa.select(
    *(sa.bindparam(name, type_=t).label(name) for name, t in _REQUEST.items()),
    sa.literal_column("1").label("ord"),
).cte("request")
_DECIDED = _decided(_ONE, sa.bindparam("user_ref", type_=sa.String()))
_RECORD = sa.insert(Inquiry).values({c: sa.bindparam(c) for c in _RECORDED})


def _unnest(name: str, columns: Mapping[str, sa.types.TypeEngine[Any]]) -> sa.TableValuedAlias:
    """A PostgreSQL table from one array parameter per column, numbered from 1 (``ord``)."""
    arrays = (sa.bindparam(c, type_=postgresql.ARRAY(t)) for c, t in columns.items())
    return (
        sa.func.unnest(*arrays).table_valued(*columns, with_ordinality="ord").render_derived(name)
    )


def _decided_and_recorded() -> sa.Select[Any]:
    """A whole batch of reads in one PostgreSQL statement, from one array per request column:
    each read's decision and the id of its query record, inserted by the same statement."""
    decided = _decided(sa.select(_unnest("given", _REQUEST)).cte("request"), None).cte("decided")
    # Rows are inserted in the order of ``ord``, so the sequence gives them increasing ids in
    # that order (SQLAlchemy's "insertmanyvalues" relies on the same); the n-th id is the
    # n-th read's.
    recorded = (
        sa.insert(Inquiry)
        .from_select(
            _RECORDED,
            sa.select(*(decided.c[c] for c in _RECORDED if c != "exported"), sa.false()).order_by(
                decided.c.ord
            ),
        )
        .returning(Inquiry.id)
        .cte("recorded")
    )
    ids = sa.select(
        recorded.c.id, sa.func.row_number().over(order_by=recorded.c.id).label("ord")
    ).subquery("ids")
    return (
        sa.select(*(c for c in decided.c), ids.c.id.label("inquiry_id"))
        .join(ids, ids.c.ord == decided.c.ord)
        .order_by(decided.c.ord)
    )


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

    def values(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values``."""
        params = {**self._fixed, **values}
        for name, process in self._bind.items():
            params[name] = process(params[name])
        return [params[n] for n in self._names] if self._names else params

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        cursor.execute(self.sql, self.values(values))
        return cursor

    def convert(self, fetched: Sequence[Sequence[Any]]) -> list[list[Any]]:
        rows = [list(row) for row in fetched]
        for row in rows:
            for i, process in self._results:
                if row[i] is not None:
                    row[i] = process(row[i])
        return rows

    def rows(self, cursor: Any) -> list[list[Any]]:
        return self.convert(cursor.fetchall())


_DIMENSIONS = [d.value for d in Dimension]
_COLUMN = {c.name: i for i, c in enumerate(_DECIDED.selected_columns)}
_SCORE_AT = _COLUMN["score"]


class _Statements:
    """The read path's statements for one database, one read at a time on a DB-API
    connection, in the caller's transaction: the decision, then the record."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        # On PostgreSQL the queue's own connections are asyncpg's (`_BatchStatement`).
        self.postgres = dialect.name == "postgresql"
        self.decided = _Prepared(_DECIDED, dialect)
        self.returning = bool(dialect.insert_returning)
        self.record = _Prepared(
            _RECORD.returning(Inquiry.id) if self.returning else _RECORD, dialect
        )

    def run(self, driver: Any, jobs: Sequence[ReadJob]) -> list[Read | None]:
        """Decides and records each job on the driver's connection ``driver``, in its
        transaction (which the caller commits, all or nothing); None for a throttled job
        (only recorded)."""
        cursor = driver.cursor()
        try:
            reads = []
            for job in jobs:
                (decided,) = self.decided.rows(self.decided.execute(cursor, _request(job)))
                self.record.execute(cursor, _record(decided))
                inquiry_id = cursor.fetchone()[0] if self.returning else cursor.lastrowid
                reads.append(_read(job, decided, inquiry_id))
            return reads
        finally:
            cursor.close()


class _BatchStatement:
    """A whole batch of reads on an asyncpg connection: one statement decides and records
    every read (one round trip, one transaction, whatever the batch's size). asyncpg, not
    psycopg, because here a batch's CPU is the service's limit, and asyncpg spends about a
    third of psycopg's (measured in docs/benchmarks.md, "Score service (issue 5)")."""

    def __init__(self) -> None:
        self.statement = _Prepared(_decided_and_recorded(), _asyncpg_dialect())

    async def run(self, connection: Any, jobs: Sequence[ReadJob]) -> list[Read | None]:
        """Decides and records each job, committed (none of it on any error); None for a
        throttled job (only recorded)."""
        values = self.statement.values(_arrays([_request(j) for j in jobs]))
        rows = self.statement.convert(await connection.fetch(self.statement.sql, *values))
        return [_read(job, row, row[-1]) for job, row in zip(jobs, rows, strict=True)]


def _asyncpg_dialect() -> sa.Dialect:
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    return cast(sa.Dialect, PGDialect_asyncpg())  # type: ignore[no-untyped-call]


def _arrays(values: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of values as one list per column."""
    return {name: [v[name] for v in values] for name in values[0]}


def _request(job: ReadJob) -> dict[str, Any]:
    return {
        "partner_id": job.partner_id,
        "user_ref": job.user_ref,
        "purpose": job.purpose,
        "now": job.now,
        "lapsed": job.now - timedelta(days=PENDING_DAYS),
        "throttled": job.throttled,
    }


def _record(decided: list[Any]) -> dict[str, Any]:
    """The query record of a decided read (its score's columns are there only when it was
    allowed)."""
    return {c: decided[_COLUMN[c]] for c in _RECORDED if c != "exported"} | {"exported": False}


def _read(job: ReadJob, decided: list[Any], inquiry_id: int) -> Read | None:
    if job.throttled:
        return None
    outcome = decided[_COLUMN["outcome"]]
    allowed = outcome == ALLOWED
    return Read(
        inquiry_id=int(inquiry_id),
        outcome=outcome,
        score=_score(decided) if allowed else None,
        dimensions=allowed and decided[_COLUMN["scope"]] == Scope.SCORE_AND_DIMENSIONS.value,
    )


def _score(decided: list[Any]) -> Score:
    score, band, as_of, model, *rest = decided[_SCORE_AT : _SCORE_AT + len(_SCORE_COLUMNS)]
    n = len(_DIMENSIONS)
    return Score(
        score=score,
        band=band,
        as_of=as_of,
        model=model,
        points=dict(zip(_DIMENSIONS, rest[:n], strict=True)),
        radar=dict(zip(_DIMENSIONS, rest[n:], strict=True)),
    )


class _Elsewhere(Exception):
    """The batch cannot go on the queue's own connection (SQLite's write lock is held
    elsewhere, a statement failed, the connection is lost): it goes to the engine in a
    worker thread, whole, and each read is retried alone should the batch fail again."""


def _sqlite_connection(database: Database) -> sqlite3.Connection:
    """A connection of the engine's (its pragmas applied), taken out of the pool for good."""
    fairy = database.engine.raw_connection()
    connection = fairy.driver_connection
    fairy.detach()
    assert isinstance(connection, sqlite3.Connection)
    return connection


class _SQLiteLane:
    """The queue's own SQLite connection, used on the event loop, never waiting there: its
    busy timeout is 0, so a write lock held elsewhere sends the batch to a worker thread.

    It never checkpoints the WAL itself (a checkpoint copies pages into the database file and
    syncs it, milliseconds that would stall every request on the loop): every
    ``checkpoint_seconds`` of reads a thread of its own runs a passive checkpoint on another
    connection, which never blocks the writer."""

    def __init__(self, database: Database, checkpoint_seconds: float) -> None:
        self.database = database
        self.checkpoint_seconds = checkpoint_seconds
        self.connection = _sqlite_connection(database)
        self.connection.execute("PRAGMA busy_timeout = 0")
        self.connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpointer: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since = time.monotonic()
        self.checkpoints = 0
        self.broken = False  # to be closed and opened again

    def run(self, statements: _Statements, jobs: Sequence[ReadJob]) -> list[Read | None]:
        """The batch in one transaction that takes the write lock first (`_Elsewhere` at
        once when another connection holds it, or when anything fails: rolled back)."""
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            busy = getattr(exc, "sqlite_errorcode", None) in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            )
            self.broken = self.broken or not busy
            raise _Elsewhere from exc
        try:
            reads = statements.run(connection, jobs)
            connection.commit()
        except BaseException as exc:
            try:
                connection.rollback()
            except sqlite3.Error:
                self.broken = True
            if isinstance(exc, Exception):
                raise _Elsewhere from exc
            raise
        self._checkpoint_later()
        return reads

    def _checkpoint_later(self) -> None:
        if self._thread is not None or time.monotonic() - self._since < self.checkpoint_seconds:
            return
        self._thread = threading.Thread(
            target=self._checkpoint, name="pentascore-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def _checkpoint(self) -> None:
        try:
            with self._lock:
                if self._checkpointer is None:
                    self._checkpointer = _sqlite_connection(self.database)
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
        except sqlite3.Error as exc:  # the next one will try again
            log.warning("WAL checkpoint failed: %s", exc)
        finally:
            self._since = time.monotonic()
            self._thread = None

    def settle(self) -> None:
        """Waits for a checkpoint under way."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def close(self) -> None:
        self.settle()
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
        self.connection.close()


class _PostgresLanes:
    """asyncpg connections of one event loop (an asyncpg connection belongs to the loop that
    opened it), one per batch in flight, kept for the next batch when it is done.

    They are closed with their loop: asyncio's runners (``asyncio.run``, uvicorn's, a test
    client's) close a loop's open asynchronous generators before the loop itself, and one of
    them (`_closed_with_loop`) closes the connections then. A queue that finds its lanes on
    another loop opens new ones on its own."""

    def __init__(self, database: Database, loop: asyncio.AbstractEventLoop) -> None:
        self.database = database
        self.loop = loop
        self.batch = _BatchStatement()
        self.idle: list[Any] = []  # asyncpg.Connections
        self._keeper = self._closed_with_loop()

    async def start(self) -> None:
        """Registers the lanes to be closed with the running loop (``loop``)."""
        await anext(self._keeper)

    async def _closed_with_loop(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.aclose()

    async def run(self, jobs: list[ReadJob]) -> list[Read | None]:
        """The batch, on a connection of the lanes' (`_Elsewhere` should it fail)."""
        connection = self.idle.pop() if self.idle else await _connect(self.database)
        try:
            reads = await self.batch.run(connection, jobs)
        except Exception as exc:
            # Rolled back; the connection kept unless it is lost (another opens next time).
            if connection.is_closed():
                connection.terminate()
            else:
                self.idle.append(connection)
            raise _Elsewhere from exc
        except BaseException:  # cancelled mid-way: what the server did is unknown
            connection.terminate()
            raise
        self.idle.append(connection)
        return reads

    async def aclose(self) -> None:
        """Closes the idle connections, on their loop."""
        idle, self.idle = self.idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.close(), timeout=5)
            except Exception:
                connection.terminate()

    def close(self) -> None:
        """Drops the idle connections at once, off their loop (or once it is gone)."""
        idle, self.idle = self.idle, []
        if not self.loop.is_closed():
            for connection in idle:
                connection.terminate()


class _Own:
    """The queue's own connections: SQLite's lane, or PostgreSQL's lanes."""

    def __init__(self) -> None:
        self.database: Database | None = None  # the database they are to
        self.sqlite: _SQLiteLane | None = None
        self.postgres: _PostgresLanes | None = None
        self.unusable = False  # a memory database: the engine serves every batch

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
            self.sqlite = None
        if self.postgres is not None:
            self.postgres.close()
            self.postgres = None


class ReadQueue:
    """Partner reads waiting for the database, carried out together: while a transaction of
    reads runs, the reads that arrive wait, and go in the next one (a group commit). Each
    read is still checked, and recorded, in the transaction that reads it, and answered only
    once that transaction committed. The batches are gathered on the event loop and run
    on connections of the queue's own.

    On SQLite one batch runs at a time, on the loop itself: the work is a few dozen
    microseconds of the CPU per read, and a worker thread would spend more than that handing
    the GIL back and forth. It runs there only when the write lock is free at once; when
    another connection holds it (a consumer's decision, the inquiry export, another
    process), the batch waits for it in a worker thread instead, never on the loop.

    On PostgreSQL most of a batch's time is the commit waiting for the WAL to reach the
    disk, with nothing for this process to do: up to ``lanes`` batches are in flight at
    once, each on an asyncpg connection of its own, so that the reads arriving while
    one batch waits for the disk go at once in the next instead of waiting for it. A lane
    starts when a read arrives and every running lane is busy, so batches stay small when
    the load is light (the least wait) and grow when it is heavy (the least work per read).
    """

    def __init__(
        self,
        max_batch: int = 64,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        lanes: int = POSTGRES_LANES,
    ) -> None:
        self.max_batch = max_batch
        self.checkpoint_seconds = checkpoint_seconds
        self.lanes = lanes
        self._waiting: list[tuple[ReadJob, asyncio.Future[Read | None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._statements: _Statements | None = None
        self._own = _Own()
        self._finalizer = weakref.finalize(self, self._own.close)

    async def read(self, database: Database, job: ReadJob) -> Read | None:
        """The read (None when throttled: then only recorded)."""
        loop = asyncio.get_running_loop()
        if self._running and self._loop is not loop:
            # Another event loop is draining (tests run one per request): go alone.
            alone = (await run_in_threadpool(self.run, database, [job]))[0]
            if isinstance(alone, Exception):
                raise alone
            return alone
        if self._statements is None:
            self._statements = _Statements(database.engine.dialect)
        future: asyncio.Future[Read | None] = loop.create_future()
        self._waiting.append((job, future))
        if len(self._running) < (self.lanes if self._statements.postgres else 1):
            self._loop = loop
            lane = loop.create_task(self._lane(database))
            self._running.add(lane)
            lane.add_done_callback(self._lane_done)
        return await future

    def _lane_done(self, lane: asyncio.Task[None]) -> None:
        self._running.discard(lane)
        if not self._running:
            self._loop = None

    async def _lane(self, database: Database) -> None:
        """Batches of the waiting reads, one after another, while reads wait."""
        while True:
            # One turn of the loop: the requests already read from the sockets join.
            await asyncio.sleep(0)
            if not self._waiting:
                return
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            results: list[Read | Exception | None]
            try:
                results = list(await self._batch(database, [job for job, _ in batch]))
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away; the read was recorded all the same
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _batch(
        self, database: Database, jobs: list[ReadJob]
    ) -> Sequence[Read | Exception | None]:
        """The batch on a connection of the queue's own, else on the engine in a worker
        thread."""
        statements = self._statements
        assert statements is not None
        own = self._own
        if own.database is None:
            own.database = database
        if own.database is database and not own.unusable:
            try:
                if statements.sqlite:
                    return self._on_sqlite(database, statements, jobs)
                if statements.postgres:
                    return await self._on_postgres(database, jobs)
            except _Elsewhere:
                pass
        return await run_in_threadpool(self.run, database, jobs)

    def _on_sqlite(
        self, database: Database, statements: _Statements, jobs: list[ReadJob]
    ) -> list[Read | None]:
        own = self._own
        if own.sqlite is not None and own.sqlite.broken:
            own.sqlite.close()
            own.sqlite = None
        if own.sqlite is None:
            if database.engine.url.database in (None, "", ":memory:"):
                own.unusable = True  # a memory database is one connection's alone
                raise _Elsewhere
            own.sqlite = _SQLiteLane(database, self.checkpoint_seconds)
        return own.sqlite.run(statements, jobs)

    async def _on_postgres(self, database: Database, jobs: list[ReadJob]) -> list[Read | None]:
        own = self._own
        loop = asyncio.get_running_loop()
        if own.postgres is not None and own.postgres.loop is not loop:
            own.postgres.close()  # another loop's (closed with it, when it was shut down)
            own.postgres = None
        if own.postgres is None:
            lanes = _PostgresLanes(database, loop)
            await lanes.start()
            own.postgres = lanes
        return await own.postgres.run(jobs)

    def settle(self) -> None:
        """Waits for the WAL checkpoint under way, if any (tests)."""
        if self._own.sqlite is not None:
            self._own.sqlite.settle()

    def close(self) -> None:
        """Closes the queue's own connections (it opens new ones should reads come)."""
        self._own.close()

    async def aclose(self) -> None:
        """`close`, on the event loop the reads ran on (PostgreSQL's connections closed
        cleanly, on their loop)."""
        if self._own.postgres is not None and self._own.postgres.loop is asyncio.get_running_loop():
            await self._own.postgres.aclose()
        self.close()

    def run(self, database: Database, jobs: Sequence[ReadJob]) -> list[Read | Exception | None]:
        """The reads, each with its query record, in one transaction of the engine's (None
        for a throttled one). Should that transaction fail, each read is tried again in a
        transaction of its own, so that one read's error is only that read's."""
        if self._statements is None:
            self._statements = _Statements(database.engine.dialect)
        statements = self._statements
        try:
            return list(_engine_run(database, statements, jobs))
        except Exception:
            if len(jobs) == 1:
                raise
        results: list[Read | Exception | None] = []
        for job in jobs:
            try:
                results.extend(_engine_run(database, statements, [job]))
            except Exception as exc:
                results.append(exc)
        return results


async def _connect(database: Database) -> Any:
    """An asyncpg connection to the engine's database, with the engine's URL."""
    import asyncpg

    url = database.engine.url.set(drivername="postgresql+asyncpg")
    args, kwargs = _asyncpg_dialect().create_connect_args(url)
    # The batch statement is planned once per connection: PostgreSQL would otherwise plan
    # it again for every batch (its arrays' lengths make it guess a custom plan cheaper),
    # and planning it costs more of the database's time than running it (measured in
    # docs/benchmarks.md, "Score service (issue 5)").
    settings = kwargs.setdefault("server_settings", {})
    settings["plan_cache_mode"] = "force_generic_plan"
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("this batch of reads goes through the engine: %s", exc)
        raise _Elsewhere from exc


def _engine_run(
    database: Database, statements: _Statements, jobs: Sequence[ReadJob]
) -> list[Read | None]:
    with database.engine.begin() as connection:
        driver: Any = connection.connection.driver_connection
        if statements.sqlite:
            # SQLite would begin the transaction only at the first insert: take the write
            # lock before reading, so that the checks and the records are one transaction.
            driver.execute("BEGIN IMMEDIATE")
        return statements.run(driver, jobs)


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
