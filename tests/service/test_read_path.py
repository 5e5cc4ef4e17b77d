"""The fast partner read: partners remembered for a few seconds only, reads batched into one
transaction without one read's failure costing the others, and SQLite's write lock never
waited for on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pentascore.events.pseudonym import pseudonymize_value
from pentascore.service.db import Database, Inquiry, Partner
from pentascore.service.reads import ALLOWED, PartnerCache, Read, ReadJob, ReadQueue
from tests.conftest import KEY, ScoredHome
from tests.service.conftest import NOW, World, make_world


def _grant(w: World, user: str, purpose: str = "hotel") -> None:
    asked = w.client.post(
        "/v1/authorizations", headers=w.hotel, json={"user_id": user, "purpose": purpose}
    ).json()
    granted = w.client.post(
        f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=w.me(user)
    )
    assert granted.status_code == 200, granted.text


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
