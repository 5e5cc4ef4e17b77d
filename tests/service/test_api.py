"""The score service's flows over HTTP, each on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import sqlalchemy as sa

from pentascore.core.types import Dimension
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import score_people
from pentascore.service.db import AuditEntry, Database, Inquiry, Refresh
from pentascore.service.inquiry_export import export_inquiries
from tests.conftest import KEY
from tests.service.conftest import ScoredHome, World, make_world


def _ref(user_id: str) -> str:
    return pseudonymize_value(KEY, "user_id", user_id)


def _ask(w: World, user: str, purpose: str = "hotel", **body: Any) -> dict[str, Any]:
    response = w.client.post(
        "/v1/authorizations",
        headers=w.hotel,
        json={"user_id": user, "purpose": purpose, **body},
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _read(w: World, user: str, purpose: str = "hotel", key: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": key} if key else w.hotel
    return w.client.get(f"/v1/scores/{user}", params={"purpose": purpose}, headers=headers)


def _inquiries(database: Database) -> list[tuple[str, str, str]]:
    with database.session() as session:
        rows = session.execute(
            sa.select(Inquiry.user_ref, Inquiry.purpose, Inquiry.outcome).order_by(Inquiry.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _batch_score(home: ScoredHome, user: str) -> dict[str, Any]:
    row = home.scores.filter(
        home.scores.column("user_id").to_numpy(zero_copy_only=False) == _ref(user)
    ).to_pylist()
    assert len(row) == 1
    return row[0]


def test_request_grant_read_revoke(world: World) -> None:
    w, user = world, world.home.users[0]
    me = w.me(user)
    asked = _ask(w, user, scope="score", days=30)
    assert asked["status"] == "pending" and asked["partner_name"] == "Hotel One"

    pending = _read(w, user)
    assert pending.status_code == 403 and pending.json()["error"] == "authorization_pending"

    listed = w.client.get("/v1/me/authorizations", headers=me).json()
    assert [a["authorization_id"] for a in listed["items"]] == [asked["authorization_id"]]
    granted = w.client.post(
        f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=me
    ).json()
    assert granted["status"] == "active"
    assert granted["expires_at"].startswith((w.clock.now() + timedelta(days=30)).date().isoformat())

    read = _read(w, user)
    assert read.status_code == 200, read.text
    body = read.json()
    batch = _batch_score(w.home, user)
    assert body["score"] == batch["score"] and body["band"] == batch["band"]
    assert body["model"] == batch["model"] and "dimensions" not in body

    # The same partner, another purpose: no authorization for that.
    assert _read(w, user, purpose="car_rental").json()["error"] == "no_authorization"
    # Another partner: nothing.
    assert _read(w, user, key=w.bikes_key).json()["error"] == "no_authorization"

    revoked = w.client.post(
        f"/v1/me/authorizations/{asked['authorization_id']}/revoke",
        headers=me,
        json={"reason": "I did not book the hotel after all"},
    )
    assert revoked.json()["status"] == "revoked"
    after = _read(w, user)
    assert after.status_code == 403 and after.json()["error"] == "authorization_revoked"

    # Every attempt left exactly one record, and the person sees them all, newest first.
    ref = _ref(user)
    assert _inquiries(w.database) == [
        (ref, "hotel", "authorization_pending"),
        (ref, "hotel", "allowed"),
        (ref, "car_rental", "no_authorization"),
        (ref, "hotel", "no_authorization"),
        (ref, "hotel", "authorization_revoked"),
    ]
    seen = w.client.get("/v1/me/inquiries", headers=me).json()["items"]
    assert [q["outcome"] for q in seen][::-1] == [o for _, _, o in _inquiries(w.database)]
    allowed = [q for q in seen if q["outcome"] == "allowed"]
    assert allowed[0]["partner_name"] == "Hotel One"
    assert allowed[0]["authorization_id"] == asked["authorization_id"]
    assert body["inquiry_id"] == allowed[0]["inquiry_id"]


def test_dimensions_only_under_that_scope(world: World) -> None:
    w, user = world, world.home.users[1]
    me = w.me(user)
    asked = _ask(w, user, scope="score+dimensions")
    w.client.post(f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=me)
    body = _read(w, user).json()
    batch = _batch_score(w.home, user)
    assert set(body["dimensions"]) == {d.value for d in Dimension}
    assert batch["base"] + sum(d["points"] for d in body["dimensions"].values()) == body["score"]
    assert all(body["dimensions"][d.value]["radar"] == batch[f"{d.value}_radar"] for d in Dimension)


def test_decline_and_expiry(world: World) -> None:
    w, user = world, world.home.users[2]
    me = w.me(user)
    first = _ask(w, user, days=1)
    declined = w.client.post(
        f"/v1/me/authorizations/{first['authorization_id']}/decline", headers=me
    )
    assert declined.json()["status"] == "declined"
    assert _read(w, user).json()["error"] == "authorization_declined"
    # A decision is final: granting it now is a conflict.
    again = w.client.post(f"/v1/me/authorizations/{first['authorization_id']}/grant", headers=me)
    assert again.status_code == 409 and again.json()["error"] == "not_pending"

    second = _ask(w, user, days=1)
    w.client.post(f"/v1/me/authorizations/{second['authorization_id']}/grant", headers=me)
    assert _read(w, user).status_code == 200
    w.clock.set(w.clock.now() + timedelta(days=1))
    expired = _read(w, user)
    assert expired.status_code == 403 and expired.json()["error"] == "authorization_expired"
    listed = w.client.get("/v1/me/authorizations", headers=me, params={"status": "expired"}).json()
    assert [a["authorization_id"] for a in listed["items"]] == [second["authorization_id"]]
    # A request nobody answers lapses after 30 days.
    third = _ask(w, user)
    w.clock.set(w.clock.now() + timedelta(days=30))
    status = w.client.get(
        f"/v1/authorizations/{third['authorization_id']}", headers=w.hotel
    ).json()["status"]
    assert status == "expired"


def test_the_same_pending_request_is_not_repeated(world: World) -> None:
    w, user = world, world.home.users[3]
    first = _ask(w, user)
    repeat = w.client.post(
        "/v1/authorizations", headers=w.hotel, json={"user_id": user, "purpose": "hotel"}
    )
    assert repeat.status_code == 200
    assert repeat.json()["authorization_id"] == first["authorization_id"]


def test_nobody_touches_what_is_not_theirs(world: World) -> None:
    w = world
    alice, bob = w.home.users[4], w.home.users[5]
    asked = _ask(w, alice)
    # Bob cannot grant Alice's request, nor see it.
    stolen = w.client.post(
        f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=w.me(bob)
    )
    assert stolen.status_code == 404
    assert w.client.get("/v1/me/authorizations", headers=w.me(bob)).json()["items"] == []
    # Another partner cannot see the hotel's authorization.
    other = w.client.get(f"/v1/authorizations/{asked['authorization_id']}", headers=w.bikes)
    assert other.status_code == 404
    # No key, a wrong key, no token, a wrong token, a partner key where a token is due.
    assert _read(w, alice, key="psk_wrong").status_code == 401
    assert w.client.get("/v1/scores/x?purpose=hotel").json()["error"] == "missing_api_key"
    assert w.client.get("/v1/me/score").json()["error"] == "missing_token"
    bad = w.client.get("/v1/me/score", headers={"Authorization": "Bearer pct_nope"})
    assert bad.status_code == 401
    assert w.client.get("/v1/me/score", headers=w.hotel).status_code == 401
    # A consumer token is not the operator token.
    events = w.client.post("/v1/events", headers=w.me(alice), json={"events": [{}]})
    assert events.status_code == 401


def test_my_score_and_history(world: World) -> None:
    w, user = world, world.home.users[6]
    me = w.me(user)
    mine = w.client.get("/v1/me/score", headers=me).json()
    batch = _batch_score(w.home, user)
    assert mine["score"] == batch["score"] and mine["base"] == batch["base"]
    assert mine["base"] + sum(d["points"] for d in mine["dimensions"].values()) == mine["score"]
    history = w.client.get("/v1/me/history", headers=me).json()
    assert [h["score"] for h in history["items"]] == [batch["score"]]
    with w.database.session() as session:
        actions = session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.subject_ref == _ref(user))
        ).all()
    assert actions.count("score.viewed") == 1 and actions.count("history.viewed") == 1
    # Someone the lake has never heard of has no score.
    unknown = w.client.get("/v1/me/score", headers=w.me("nobody-at-all"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "no_data"


def test_refresh_once_a_month_through_the_batch_path(world: World) -> None:
    w, user = world, world.home.users[7]
    me = w.me(user)
    fresh = w.client.post("/v1/me/score/refresh", headers=me)
    assert fresh.status_code == 200, fresh.text
    # The same number the batch computes for everyone as of the same moment.
    lake = ParquetLake(w.settings.lake_dir)
    model, doc = ModelRegistry(w.settings.models_dir).load()
    everyone = score_people(
        DuckDBEngine(threads=1),
        lake,
        ScoreHistory(w.settings.scores_dir),
        model,
        doc.version,
        w.clock.now(),
    )
    row = everyone.filter(
        everyone.column("user_id").to_numpy(zero_copy_only=False) == _ref(user)
    ).to_pylist()[0]
    body = fresh.json()
    assert body["score"] == row["score"] and body["as_of"] == w.clock.now().date().isoformat()
    assert {d: body["dimensions"][d]["points"] for d in body["dimensions"]} == {
        d.value: row[d.value] for d in Dimension
    }
    # It is now the latest score.
    assert w.client.get("/v1/me/score", headers=me).json()["as_of"] == body["as_of"]

    refused = w.client.post("/v1/me/score/refresh", headers=me)
    assert refused.status_code == 429
    assert refused.json() | {"message": ""} == {
        "error": "refresh_used",
        "message": "",
        "opens": "2025-12-01",
    }
    assert int(refused.headers["Retry-After"]) >= 1
    w.clock.set(w.clock.now().replace(month=12, day=1))
    assert w.client.post("/v1/me/score/refresh", headers=me).status_code == 200


def test_a_thin_file_is_told_what_it_needs(world: World) -> None:
    w = world
    recent = max(w.home.joined.values())
    newcomer = next(u for u in w.home.everyone if w.home.joined[_ref(u)] == recent)
    me = w.me(newcomer)
    refused = w.client.post("/v1/me/score/refresh", headers=me)
    assert refused.status_code == 404, refused.text
    body = refused.json()
    assert body["error"] == "not_enough_data" and body["needs"]
    assert "days old" in body["needs"][0]
    mine = w.client.get("/v1/me/score", headers=me).json()
    assert mine["error"] == "not_enough_data" and mine["needs"] == body["needs"]
    # Nothing was used up: the refresh stays available for when the file is deep enough.
    with w.database.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Refresh)) == 0


def test_events_over_http(world: World) -> None:
    w = world
    good = {
        "event_id": "http-1",
        "user_id": w.home.users[8],
        "type": "charity",
        "ts": "2025-10-20T10:00:00Z",
        "kind": "donation",
        "amount": 1000,
        "currency": "CNY",
    }
    bad = good | {"event_id": "http-2", "amount": -5}
    posted = w.client.post("/v1/events", headers=w.operator, json={"events": [good, bad]})
    assert posted.status_code == 200, posted.text
    result = posted.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (1, 0, 1)
    assert result["rejects"][0]["row"] == 2 and result["rejects"][0]["field"] == "amount"
    assert "-5" in result["rejects"][0]["reason"]

    again = w.client.post("/v1/events", headers=w.bikes, json={"events": [good]}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)

    strict = w.client.post(
        "/v1/events",
        headers=w.operator,
        params={"strict": "true"},
        json={"events": [good | {"event_id": "http-3"}, bad]},
    )
    assert strict.status_code == 422 and "row 2: amount" in strict.json()["message"]
    events = ParquetLake(w.settings.lake_dir).read()
    ids = set(events.column("event_id").to_pylist())
    assert "http-1" in ids and "http-2" not in ids and "http-3" not in ids
    # The platform's user id is pseudonymized on the way in.
    mine = events.filter(events.column("event_id").to_numpy(zero_copy_only=False) == "http-1")
    assert mine.column("user_id")[0].as_py() == _ref(w.home.users[8])

    refused = w.client.post("/v1/events", headers=w.hotel, json={"events": [good]})
    assert refused.status_code == 403 and refused.json()["error"] == "not_furnisher"


def test_allowed_reads_become_inquiry_events_one_a_day_per_partner_and_purpose(
    world: World,
) -> None:
    w, user = world, world.home.users[9]
    asked = _ask(w, user)
    w.client.post(f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=w.me(user))
    first = w.clock.now()
    lake = ParquetLake(w.settings.lake_dir)
    engine = DuckDBEngine(threads=1)
    later = first + timedelta(days=3)
    before = engine.features(lake, later, users=[_ref(user)]).to_pylist()[0]["ch_inquiries_30"]
    for _ in range(2):
        assert _read(w, user).status_code == 200
    _read(w, user, purpose="lending")  # refused: not an inquiry
    assert export_inquiries(w.database, lake, w.settings.rejects_dir, w.clock) == 2
    # Later the same day, another read and another export: the same day's inquiry again.
    w.clock.set(first + timedelta(hours=1))
    assert _read(w, user).status_code == 200
    assert export_inquiries(w.database, lake, w.settings.rejects_dir, w.clock) == 1
    w.clock.set(first + timedelta(days=1))
    assert _read(w, user).status_code == 200
    assert export_inquiries(w.database, lake, w.settings.rejects_dir, w.clock) == 1
    assert export_inquiries(w.database, lake, w.settings.rejects_dir, w.clock) == 0
    after = engine.features(lake, later, users=[_ref(user)]).to_pylist()[0]["ch_inquiries_30"]
    # Three reads on the first day count once, the next day's once more.
    assert after == before + 2
    inquiries = lake.read().filter(
        lake.read().column("type").to_numpy(zero_copy_only=False) == "inquiry"
    )
    ids = inquiries.column("event_id").to_numpy(zero_copy_only=False)
    ours = np.char.startswith(ids.astype(str), "pentascore-inquiry-")
    mine = inquiries.filter(
        (inquiries.column("user_id").to_numpy(zero_copy_only=False) == _ref(user)) & ours
    )
    # Dated at the end of each day's reads: never seen by a feature before they happened.
    day_end = datetime.combine(first.date(), time.max, tzinfo=UTC)
    assert sorted(mine.column("ts").to_pylist()) == [day_end, day_end + timedelta(days=1)]
    assert set(mine.column("partner_id").to_pylist()) == {w.hotel_id}
    assert set(mine.column("scenario").to_pylist()) == {"hotel"}


def test_rate_limit_is_recorded(
    scored_home: ScoredHome, database: Database, tmp_path: Path
) -> None:
    w = make_world(scored_home, database, tmp_path / "home", partner_reads_per_minute=6)
    user = w.home.users[10]
    codes = [_read(w, user).status_code for _ in range(6)]
    assert codes == [403] * 5 + [429]  # a burst of 5, then wait
    limited = _read(w, user)
    assert limited.json()["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert [o for _, _, o in _inquiries(w.database)][-2:] == ["rate_limited", "rate_limited"]
    w.clock.set(w.clock.now() + timedelta(seconds=10))
    assert _read(w, user).status_code == 403  # a token came back


def test_a_persons_rescoring_requests_are_rate_limited_per_person(
    scored_home: ScoredHome, database: Database, tmp_path: Path
) -> None:
    w = make_world(scored_home, database, tmp_path / "home", consumer_computations_per_minute=6)
    one, other = w.home.users[11], w.home.users[12]
    codes = [w.client.get("/v1/me/records", headers=w.me(one)).status_code for _ in range(5)] + [
        w.client.post(
            "/v1/me/whatif", headers=w.me(one), json={"actions": ["verify_education"]}
        ).status_code
    ]
    assert codes == [200] * 5 + [429]  # a burst of 5, then wait
    limited = w.client.get("/v1/me/explanation", headers=w.me(one))
    assert limited.json()["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Reading one's own score costs no computation; another person has their own allowance.
    assert w.client.get("/v1/me/score", headers=w.me(one)).status_code == 200
    assert w.client.get("/v1/me/records", headers=w.me(other)).status_code == 200
    w.clock.set(w.clock.now() + timedelta(seconds=10))
    assert w.client.get("/v1/me/records", headers=w.me(one)).status_code == 200


def test_body_and_page_limits(scored_home: ScoredHome, database: Database, tmp_path: Path) -> None:
    w = make_world(scored_home, database, tmp_path / "home", max_body_bytes=2048)
    big = {"events": [{"event_id": f"e{i}", "user_id": "u"} for i in range(200)]}
    too_big = w.client.post("/v1/events", headers=w.operator, json=big)
    assert too_big.status_code == 413 and too_big.json()["error"] == "body_too_large"

    user = w.home.users[11]
    made = [_ask(w, user, purpose=p)["authorization_id"] for p in ("hotel", "bike", "lending")]
    me = w.me(user)
    first = w.client.get("/v1/me/authorizations", headers=me, params={"limit": 2}).json()
    assert first["next_offset"] == 2
    rest = w.client.get(
        "/v1/me/authorizations", headers=me, params={"limit": 2, "offset": 2}
    ).json()
    assert rest["next_offset"] is None
    seen = [a["authorization_id"] for a in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(made)
    assert (
        w.client.get("/v1/me/authorizations", headers=me, params={"limit": 201}).status_code == 422
    )
