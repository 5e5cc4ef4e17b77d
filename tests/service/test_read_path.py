"""The fast partner read: partners remembered for a few seconds only, reads batched into one
transaction without one read's failure costing the others, SQLite's write lock never waited
for on the event loop nor its WAL checkpointed there, a lost connection costing no read, and
`FastReads` answering exactly as the route does."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.types import Scope

from pentascore.events.pseudonym import pseudonymize_value
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.service.app import USER_REFS_KEPT, create_app
from pentascore.service.credentials import new_id
from pentascore.service.db import Authorization, Database, Inquiry, Partner
from pentascore.service.fast_read import FastReads
from pentascore.service.identities import add_partner
from pentascore.service.reads import ALLOWED, PartnerCache, Read, ReadJob, ReadQueue
from tests.conftest import KEY, ScoredHome
from tests.service.conftest import NOW, World, make_world


def _ask(w: World, user: str, purpose: str = "hotel", scope: str = "score") -> str:
    asked = w.client.post(
        "/v1/authorizations",
        headers=w.hotel,
        json={"user_id": user, "purpose": purpose, "scope": scope},
    )
    assert asked.status_code == 201, asked.text
    return str(asked.json()["authorization_id"])


def _grant(w: World, user: str, purpose: str = "hotel", scope: str = "score") -> str:
    asked = _ask(w, user, purpose, scope)
    granted = w.client.post(f"/v1/me/authorizations/{asked}/grant", headers=w.me(user))
    assert granted.status_code == 200, granted.text
    return asked


def _read(w: World, user: str, purpose: str = "hotel") -> Any:
    return w.client.get(f"/v1/scores/{user}", params={"purpose": purpose}, headers=w.hotel)


def _outcomes(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(sa.select(Inquiry.outcome).order_by(Inquiry.id)).all())


def test_partners_are_remembered_for_the_ttl_only() -> None:
    clock = [100.0]
    cache = PartnerCache(ttl=5.0, monotonic=lambda: clock[0])
    partner = Partner(id="ptn_1", name="One", key_hash="h")
    assert cache.get("h") is None
    cache.put("h", partner)
    assert cache.get("h") is partner
    clock[0] += 4.9
    assert cache.get("h") is partner
    clock[0] += 0.1
    assert cache.get("h") is None


def test_a_disabled_partner_is_refused_within_the_ttl(world: World) -> None:
    w, user = world, world.home.users[20]
    svc = w.client.app.state.service  # type: ignore[attr-defined]
    seconds = [0.0]
    svc.partners.monotonic = lambda: seconds[0]
    _grant(w, user)
    assert _read(w, user).status_code == 200
    with w.database.session() as session:
        found = session.get(Partner, w.hotel_id)
        assert found is not None
        found.disabled_at = w.clock.now()
    seconds[0] += svc.partners.ttl - 0.1  # still remembered as enabled
    assert _read(w, user).status_code == 200
    seconds[0] += 0.1  # the entry has lapsed: looked up again, and refused
    refused = _read(w, user)
    assert refused.status_code == 403 and refused.json()["error"] == "partner_disabled"
    # An unknown key is never remembered: it is looked up (and refused) every time.
    unknown = w.client.get(
        f"/v1/scores/{user}", params={"purpose": "hotel"}, headers={"X-API-Key": "psk_nope"}
    )
    assert unknown.status_code == 401


def test_revocation_and_expiry_refuse_the_very_next_read(world: World) -> None:
    w, user = world, world.home.users[21]
    _grant(w, user)
    assert _read(w, user).status_code == 200
    me = w.me(user)
    listed = w.client.get("/v1/me/authorizations", headers=me).json()["items"]
    w.client.post(
        f"/v1/me/authorizations/{listed[0]['authorization_id']}/revoke",
        headers=me,
        json={"reason": "no"},
    )
    assert _read(w, user).json()["error"] == "authorization_revoked"
    _grant(w, user)
    assert _read(w, user).status_code == 200
    w.clock.set(NOW + timedelta(days=31))
    assert _read(w, user).json()["error"] == "authorization_expired"
    assert _outcomes(w.database) == [
        ALLOWED,
        "authorization_revoked",
        ALLOWED,
        "authorization_expired",
    ]


@pytest.mark.parametrize("path", ["own connection", "engine"])
def test_a_refusal_is_explained_by_the_latest_change_to_the_microsecond(
    world: World, path: str
) -> None:
    """A request nobody answered lapses 30 days after it was asked; that expiry is its
    change. Of the partner's authorizations for the person and purpose, the one that changed
    last explains the refusal, to the microsecond, and at the same moment the later state
    of the lifecycle (expired after declined)."""
    w = world
    asked = NOW - timedelta(days=40, microseconds=-123_457)
    lapsed = asked + timedelta(days=30)
    declined_at = {
        "after": lapsed + timedelta(microseconds=1),
        "before": lapsed - timedelta(microseconds=1),
        "same": lapsed,
    }
    users = dict(zip(declined_at, w.home.users[40:43], strict=True))
    refs = {case: pseudonymize_value(KEY, "user_id", u) for case, u in users.items()}
    with w.database.session() as session:
        for case, ref in refs.items():
            common = {"partner_id": w.hotel_id, "user_ref": ref, "purpose": "hotel"}
            common |= {"scope": "score", "days": 30, "requested_at": asked}
            session.add(Authorization(id=new_id("auth_"), status="pending", **common))
            session.add(
                Authorization(
                    id=new_id("auth_"), status="declined", decided_at=declined_at[case], **common
                )
            )
    jobs = [ReadJob(w.hotel_id, refs[case], "hotel", NOW) for case in declined_at]
    queue = ReadQueue()

    async def together() -> list[Read | None]:
        return list(await asyncio.gather(*(queue.read(w.database, job) for job in jobs)))

    if path == "engine":
        results = queue.run(w.database, jobs)
    else:
        on_engine = _count_engine_batches(queue)
        results = list(asyncio.run(together()))
        assert on_engine == []
    queue.close()
    outcomes = [r.outcome if isinstance(r, Read) else r for r in results]
    assert outcomes == [
        "authorization_declined",  # declined a microsecond after the request lapsed
        "authorization_expired",  # lapsed a microsecond after it was declined
        "authorization_expired",  # both at once: expired comes later in the lifecycle
    ]


def test_a_batch_is_one_transaction_and_one_bad_read_fails_alone(world: World) -> None:
    w = world
    users = w.home.users[22:26]
    for user in users:
        _grant(w, user)
    refs = [pseudonymize_value(KEY, "user_id", u) for u in users]
    jobs = [ReadJob(w.hotel_id, ref, "hotel", NOW) for ref in refs]
    jobs.insert(2, ReadJob("ptn_nobody", refs[0], "hotel", NOW))  # no such partner: refused
    jobs.append(ReadJob(w.hotel_id, refs[0], "lending", NOW))  # no authorization
    jobs.append(ReadJob(w.hotel_id, refs[1], "hotel", NOW, throttled=True))
    queue = ReadQueue()

    async def all_at_once() -> list[Read | BaseException | None]:
        return await asyncio.gather(
            *(queue.read(w.database, job) for job in jobs), return_exceptions=True
        )

    results = asyncio.run(all_at_once())
    assert isinstance(results[2], Exception) and "foreign key" in str(results[2]).lower()
    reads = [r for i, r in enumerate(results) if i != 2]
    assert [r.outcome if isinstance(r, Read) else r for r in reads] == [
        ALLOWED,
        ALLOWED,
        ALLOWED,
        ALLOWED,
        "no_authorization",
        None,
    ]
    allowed = [r for r in reads if isinstance(r, Read) and r.outcome == ALLOWED]
    assert all(r.score is not None and r.score.score >= 350 for r in allowed)
    # Every read that went through left its record, the throttled one included; the failed
    # one left none (and no score went out for it).
    assert _outcomes(w.database)[-6:] == [
        ALLOWED,
        ALLOWED,
        ALLOWED,
        ALLOWED,
        "no_authorization",
        "rate_limited",
    ]
    ids = [r.inquiry_id for r in reads if isinstance(r, Read)]
    assert len(set(ids)) == len(ids)


def test_sqlite_write_lock_is_waited_for_off_the_event_loop(
    scored_home: ScoredHome, tmp_path: Path
) -> None:
    """Another connection holds SQLite's write lock; a task on the event loop releases it
    only after the loop has turned ten times. If the read waited for the lock on the loop,
    the loop would never turn and the read would never finish."""
    database = Database(f"sqlite:///{tmp_path / 'state.db'}")
    database.upgrade()
    w = make_world(scored_home, database, tmp_path / "home", copy=False)
    user = w.home.users[26]
    _grant(w, user)
    ref = pseudonymize_value(KEY, "user_id", user)
    path = database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    queue = ReadQueue()

    async def read_while_locked() -> tuple[Read | None, int]:
        turns = 0

        async def release_later() -> None:
            nonlocal turns
            while turns < 10:
                await asyncio.sleep(0)
                turns += 1
            holder.execute("COMMIT")

        releaser = asyncio.create_task(release_later())
        read = await queue.read(database, ReadJob(w.hotel_id, ref, "hotel", NOW))
        await releaser
        return read, turns

    read, turns = asyncio.run(read_while_locked())
    holder.close()
    database.dispose()
    assert read is not None and read.outcome == ALLOWED
    assert turns == 10


def _count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Inquiry)) or 0)


def _answer(response: Any) -> tuple[int, str | None, str | None, str]:
    """What a client sees, the inquiry id aside (each app leaves its own record)."""
    assert response.headers.get("content-length") == str(len(response.content))
    body = re.sub(r'"inquiry_id":\d+', '"inquiry_id":0', response.content.decode())
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("retry-after"),
        body,
    )


def test_fast_reads_answer_as_the_route_does(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same requests to the app with `FastReads` and to one without it, over the same
    database, alternately: the same status, headers and body (the inquiry id aside), and
    the same records, for every outcome; and `FastReads` answers only the well-formed reads
    of a remembered partner."""
    w = world
    taken: list[bool] = []
    take = FastReads.take

    def spy(self: FastReads, scope: Scope) -> tuple[Partner, str, str] | None:
        found = take(self, scope)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(FastReads, "take", spy)
    # Partners stay remembered however slow the machine (the TTL has a test of its own).
    w.client.app.state.service.partners.monotonic = lambda: 0.0  # type: ignore[attr-defined]
    route = TestClient(
        create_app(
            w.settings,
            clock=w.clock,
            database=w.database,
            engine=DuckDBEngine(threads=1),
            fast_reads=False,
        )
    )
    slow = add_partner(w.database, "Slow Reader", w.clock.now(), reads_per_minute=5)
    users = w.home.users[30:36]
    _grant(w, users[0])
    _grant(w, users[1], "lending", "score+dimensions")
    _ask(w, users[2], "car_rental")  # pending
    revoked = _grant(w, users[3])
    w.client.post(
        f"/v1/me/authorizations/{revoked}/revoke", headers=w.me(users[3]), json={"reason": "x"}
    )
    _grant(w, "nobody-scored")  # authorized, but without a score
    hotel, unknown = w.hotel_key, "psk_" + "x" * 43
    cases: list[tuple[str, str | None, bool]] = [  # path and query, key, taken by FastReads
        (f"/v1/scores/{users[0]}?purpose=hotel", hotel, True),
        (f"/v1/scores/{users[1]}?purpose=lending", hotel, True),  # with dimensions
        (f"/v1/scores/{users[1]}?purpose=bike", hotel, True),  # no authorization
        (f"/v1/scores/{users[2]}?purpose=car_rental", hotel, True),  # pending
        (f"/v1/scores/{users[3]}?purpose=hotel", hotel, True),  # revoked
        ("/v1/scores/nobody-scored?purpose=hotel", hotel, True),  # no score
        (f"/v1/scores/{users[0]}?purpose=nope", hotel, False),
        (f"/v1/scores/{users[0]}?purpose=hotel&purpose=bike", hotel, False),
        (f"/v1/scores/{users[0]}?purpose=hotel&extra=1", hotel, False),
        (f"/v1/scores/{users[0]}", hotel, False),
        ("/v1/scores/bad%20id!?purpose=hotel", hotel, False),
        ("/v1/scores/a%2Fb?purpose=hotel", hotel, False),
        (f"/v1/scores/{users[0]}?purpose=hotel", None, False),
        (f"/v1/scores/{users[0]}?purpose=hotel", unknown, False),
        *[(f"/v1/scores/{users[0]}?purpose=hotel", slow.api_key, i > 0) for i in range(7)],
    ]
    for path, key, fast in cases:
        headers = {"X-API-Key": key} if key else {}
        before = _count(w.database)
        expected = route.get(path, headers=headers)
        recorded = _count(w.database) - before
        taken.clear()
        got = w.client.get(path, headers=headers)
        assert _answer(got) == _answer(expected), path
        assert _count(w.database) - before == 2 * recorded, path
        assert taken == [fast], path
    # Every outcome was seen, the throttled reads' included.
    statuses = {
        _answer(route.get(p, headers={"X-API-Key": k} if k else {}))[0] for p, k, _ in cases
    }
    assert statuses >= {200, 401, 403, 404, 422, 429}
    # Anything but a GET goes to the route, and so do the app's other paths.
    for method in ("POST", "HEAD"):
        taken.clear()
        got = w.client.request(method, f"/v1/scores/{users[0]}?purpose=hotel", headers=w.hotel)
        assert got.status_code == 405 and taken == [False]
    taken.clear()
    assert w.client.get("/v1/ping").status_code == 200 and taken == []


def _count_engine_batches(queue: ReadQueue) -> list[int]:
    """The size of each batch the queue sends to the engine (in a worker thread)."""
    sizes: list[int] = []
    run = queue.run

    def counted(database: Database, jobs: list[ReadJob]) -> list[Read | Exception | None]:
        sizes.append(len(jobs))
        return run(database, jobs)

    queue.run = counted  # type: ignore[method-assign]
    return sizes


def test_a_lost_connection_costs_no_read(world: World) -> None:
    """The queue's own connection dies between two batches: the next batch goes to the
    engine (and is answered and recorded once), and the one after opens a new connection."""
    w, user = world, world.home.users[37]
    _grant(w, user)
    ref = pseudonymize_value(KEY, "user_id", user)
    queue = ReadQueue()
    on_engine = _count_engine_batches(queue)

    async def read() -> Read | None:
        return await queue.read(w.database, ReadJob(w.hotel_id, ref, "hotel", NOW))

    def lose() -> Any:
        own = queue._own
        if own.sqlite is not None:
            own.sqlite.connection.close()
            return own.sqlite
        assert own.postgres is not None
        (connection,) = own.postgres.idle
        with w.database.engine.begin() as other:  # the server ends it, as a restart would
            other.execute(sa.select(sa.func.pg_terminate_backend(connection.get_server_pid())))
        return connection

    def kept() -> Any:
        own = queue._own
        if own.sqlite is not None:
            return own.sqlite
        assert own.postgres is not None
        (connection,) = own.postgres.idle
        return connection

    async def scenario() -> tuple[list[Read | None], Any, Any]:
        first = await read()
        lost = lose()
        second = await read()  # on the engine
        third = await read()  # on a new connection of the queue's
        return [first, second, third], lost, kept()

    before = _count(w.database)
    reads, lost, now = asyncio.run(scenario())
    assert now is not lost
    assert on_engine == [1]  # the second read
    queue.close()
    assert all(r is not None and r.outcome == ALLOWED for r in reads)
    assert len({r.inquiry_id for r in reads if r is not None}) == 3
    assert _count(w.database) - before == 3


def test_concurrent_reads_each_get_their_own_answer(world: World) -> None:
    """Many reads at once, over several batches: each answered with its own person's
    outcome and its own record, once. On PostgreSQL the batches are in flight together (up
    to the queue's lanes), each on a connection of its own; on SQLite, one at a time."""
    w = world
    users = w.home.users[40:52]
    for user in users[:6]:
        _grant(w, user)
    refs = {pseudonymize_value(KEY, "user_id", u): i for i, u in enumerate(users)}
    jobs = [ReadJob(w.hotel_id, ref, "hotel", NOW) for ref in refs for _ in range(5)]
    queue = ReadQueue(max_batch=7, lanes=2)
    on_engine = _count_engine_batches(queue)
    in_flight, most = 0, 0
    batch = queue._batch

    async def counted(database: Database, jobs: list[ReadJob]) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await batch(database, jobs)
        finally:
            in_flight -= 1

    queue._batch = counted  # type: ignore[method-assign]

    postgres = w.database.engine.dialect.name == "postgresql"
    kept = []

    async def all_at_once() -> list[Read | None]:
        reads = []
        for chunk in (jobs[:20], jobs[20:]):
            reads += await asyncio.gather(*(queue.read(w.database, job) for job in chunk))
        if postgres:
            assert queue._own.postgres is not None
            kept.extend(queue._own.postgres.idle)  # both kept for the next batches
        return reads

    reads = asyncio.run(all_at_once())
    assert most == (2 if postgres else 1)
    if postgres:
        assert len(kept) == 2
        # Closed with their loop, when asyncio.run shut it down.
        assert all(connection.is_closed() for connection in kept)
        assert queue._own.postgres is not None and queue._own.postgres.idle == []
        # A new loop gets connections of its own.
        again = asyncio.run(queue.read(w.database, jobs[0]))
        assert again is not None and again.outcome == ALLOWED
    queue.close()
    assert on_engine == []  # every batch on the queue's own connection
    assert len(reads) == len(jobs)
    with w.database.session() as session:
        recorded = {
            q.id: (q.user_ref, q.outcome)
            for q in session.scalars(sa.select(Inquiry).where(Inquiry.partner_id == w.hotel_id))
        }
    for job, read in zip(jobs, reads, strict=True):
        assert read is not None
        expected = ALLOWED if refs[job.user_ref] < 6 else "no_authorization"
        assert read.outcome == expected
        assert recorded[read.inquiry_id] == (job.user_ref, expected)
    assert len({r.inquiry_id for r in reads if r is not None}) == len(jobs)


def test_sqlite_checkpoints_off_the_event_loop(scored_home: ScoredHome, tmp_path: Path) -> None:
    """The queue's SQLite connection never checkpoints the WAL itself (that would stall the
    loop): a thread does, on a connection of its own, after ``checkpoint_seconds`` of
    reads."""
    database = Database(f"sqlite:///{tmp_path / 'state.db'}")
    database.upgrade()
    w = make_world(scored_home, database, tmp_path / "home", copy=False)
    user = w.home.users[38]
    _grant(w, user)
    ref = pseudonymize_value(KEY, "user_id", user)
    queue = ReadQueue(checkpoint_seconds=0.0)

    async def reads() -> list[Read | None]:
        return [
            await queue.read(database, ReadJob(w.hotel_id, ref, "hotel", NOW)) for _ in range(5)
        ]

    assert all(r is not None and r.outcome == ALLOWED for r in asyncio.run(reads()))
    queue.settle()
    lane = queue._own.sqlite
    assert lane is not None
    assert lane.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert lane.checkpoints >= 1
    queue.close()
    database.dispose()


def test_a_user_ids_pseudonym_is_remembered_per_service(world: World) -> None:
    w, user = world, world.home.users[22]
    svc = w.client.app.state.service  # type: ignore[attr-defined]
    svc._user_refs.cache_clear()
    _grant(w, user)
    for _ in range(3):
        assert _read(w, user).status_code == 200
    assert svc.user_ref(user) == pseudonymize_value(KEY, "user_id", user)
    # One HMAC for the person (when asked), however many reads follow; and a bounded cache.
    info = svc._user_refs.cache_info()
    assert info.misses == 1 and info.hits >= 3
    assert info.maxsize == USER_REFS_KEPT
