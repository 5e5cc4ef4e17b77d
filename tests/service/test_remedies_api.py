"""Explanations, what-if, records, repairs and disputes over HTTP, on both databases."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from pentascore.events.pseudonym import pseudonymize_value
from pentascore.lake import ParquetLake
from pentascore.service.remedies import explainer_of
from tests.conftest import KEY
from tests.service.conftest import World


def _ref(user: str) -> str:
    return pseudonymize_value(KEY, "user_id", user)


def _records(w: World, me: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = w.client.get("/v1/me/records", headers=me, params={**params, "offset": offset})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        offset = page.json()["next_offset"]
    return items


def test_explanation_and_whatif_over_http(world: World) -> None:
    w, user = world, world.home.users[0]
    me = w.me(user)
    explained = w.client.get("/v1/me/explanation", headers=me)
    assert explained.status_code == 200, explained.text
    service = w.client.app.state.service  # type: ignore[attr-defined]
    want = asdict(explainer_of(service).explain(_ref(user), w.clock.now()))
    body = explained.json()
    assert body["score"] == want["score"] and body["plan"] == want["plan"]
    assert [r["points_lost"] for r in body["reasons"]] == [
        r["points_lost"] for r in want["reasons"]
    ]
    whatif = w.client.post("/v1/me/whatif", headers=me, json={"actions": ["verify_education"]})
    assert whatif.status_code == 200, whatif.text
    assert whatif.json()["score_now"] == body["score"]
    bad = w.client.post("/v1/me/whatif", headers=me, json={"actions": ["win_the_lottery"]})
    assert bad.status_code == 422 and bad.json()["error"] == "unknown_action"


def test_records_and_repair_over_http(world: World) -> None:
    w = world
    lake = ParquetLake(w.settings.lake_dir)
    repairable = next(
        e
        for e in lake.read(current=True).to_pylist()
        if e["type"] == "bill"
        and (e["days_past_due"] or 0) >= 1
        and e["paid_ts"] is not None
        and e["paid_amount"] >= e["amount"]
        and e["amount"] <= w.settings.repair_max_amount
        and e["user_id"] in set(w.home.scores.column("user_id").to_pylist())
    )
    user = next(u for u in w.home.users if _ref(u) == repairable["user_id"])
    me = w.me(user)
    bills = _records(w, me, type="bill", limit=200)
    assert repairable["event_id"] in {b["event_id"] for b in bills}
    assert all(b["type"] == "bill" for b in bills)
    other = w.me(w.home.users[1] if user != w.home.users[1] else w.home.users[2])
    assert repairable["event_id"] not in {r["event_id"] for r in _records(w, other, limit=200)}
    # Someone else cannot repair it.
    stolen = w.client.post(
        "/v1/me/repairs", headers=other, json={"event_id": repairable["event_id"]}
    )
    assert stolen.status_code == 404

    made = w.client.post("/v1/me/repairs", headers=me, json={"event_id": repairable["event_id"]})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "repaired" and made.json()["extra_refresh_available"]
    again = w.client.post(
        "/v1/me/repairs", headers=me, json={"event_id": made.json()["correction_event_id"]}
    )
    assert again.status_code == 409 and again.json()["error"] == "already_repaired"
    history = w.client.get("/v1/me/repairs", headers=me).json()
    assert [r["status"] for r in history] == ["refused", "repaired"]

    w.clock.set(w.clock.now() + timedelta(hours=1))
    assert w.client.post("/v1/me/score/refresh", headers=me).status_code == 200
    assert w.client.post("/v1/me/score/refresh", headers=me).status_code == 200  # the extra
    assert w.client.post("/v1/me/score/refresh", headers=me).status_code == 429
    assert not w.client.get("/v1/me/repairs", headers=me).json()[1]["extra_refresh_available"]


def test_dispute_filed_queued_and_upheld(world: World) -> None:
    w, user = world, world.home.users[3]
    me = w.me(user)
    record = _records(w, me, limit=5)[0]
    filed = w.client.post(
        "/v1/me/disputes", headers=me, json={"event_id": record["event_id"], "reason": "not me"}
    )
    assert filed.status_code == 201, filed.text
    dispute = filed.json()
    assert dispute["status"] == "pending" and not dispute["late"]
    twice = w.client.post(
        "/v1/me/disputes", headers=me, json={"event_id": record["event_id"], "reason": "again"}
    )
    assert twice.status_code == 409

    assert w.client.get("/v1/ops/disputes", headers=me).status_code == 401
    for verdict in ("uphold", "reject"):
        sneaky = w.client.post(
            f"/v1/ops/disputes/{dispute['dispute_id']}/{verdict}",
            headers=me,
            json={"note": "I decide myself", "void": True},
        )
        assert sneaky.status_code == 401
    w.clock.set(w.clock.now() + timedelta(days=21))
    queued = w.client.get("/v1/ops/disputes", headers=w.operator).json()["items"]
    assert [(q["dispute_id"], q["late"]) for q in queued] == [(dispute["dispute_id"], True)]

    upheld = w.client.post(
        f"/v1/ops/disputes/{dispute['dispute_id']}/uphold",
        headers=w.operator,
        json={"note": "the record was someone else's", "void": True},
    )
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["status"] == "upheld" and upheld.json()["new_score"] is not None
    mine = w.client.get("/v1/me/disputes", headers=me).json()
    assert mine[0]["status"] == "upheld" and mine[0]["operator_note"].startswith("the record")
    assert w.client.get("/v1/me/score", headers=me).json()["score"] == upheld.json()["new_score"]
    assert record["event_id"] not in {r["event_id"] for r in _records(w, me, limit=200)}
    assert w.client.get("/v1/ops/disputes", headers=w.operator).json()["items"] == []
