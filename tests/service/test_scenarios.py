"""Partner scenarios: pass marks, decisions under an authorization, the credit line."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from pentascore.service.db import Inquiry
from pentascore.service.scenarios import DEFAULT_THRESHOLDS, credit_line
from tests.service.conftest import World


def test_credit_line_formula() -> None:
    assert credit_line(600, 600, 50, 0.0) == 0  # at the pass mark: no headroom
    assert credit_line(700, 600, 50, 0.0) == 5_000  # 1 x 5,000 x (0.5 + 0.5)
    assert credit_line(700, 600, 100, 0.0) == 7_500
    assert credit_line(700, 600, 100, 3_000.0) == 6_000  # half the debt off
    assert credit_line(950, 550, 100, 0.0) == 22_500  # headroom capped at 3
    assert credit_line(700, 600, 0, 100_000.0) == 0  # never negative
    assert credit_line(600, 550, 18, 0.0) == 1_700  # exact: 50 x 68 / 2, no float drift


@given(
    score=st.integers(350, 950),
    mark=st.integers(350, 950),
    capacity=st.integers(0, 100),
    debt=st.integers(0, 10**6),
)
def test_credit_line_is_the_documented_formula_exactly(
    score: int, mark: int, capacity: int, debt: int
) -> None:
    headroom = min(max(Fraction(score - mark, 100), Fraction(0)), Fraction(3))
    exact = 5000 * headroom * (Fraction(1, 2) + Fraction(capacity, 100)) - Fraction(debt, 2)
    assert credit_line(score, mark, capacity, float(debt)) == max(0, (exact // 100) * 100)


@given(
    score=st.integers(350, 950),
    mark=st.integers(350, 950),
    capacity=st.integers(0, 100),
    debt=st.floats(0, 1e6),
)
def test_credit_line_moves_the_right_way(score: int, mark: int, capacity: int, debt: float) -> None:
    line = credit_line(score, mark, capacity, debt)
    assert line >= 0 and line % 100 == 0
    assert credit_line(min(score + 50, 950), mark, capacity, debt) >= line
    assert credit_line(score, mark, min(capacity + 10, 100), debt) >= line
    assert credit_line(score, mark, capacity, debt + 1000) <= line


def test_decisions_follow_the_partners_pass_marks(world: World) -> None:
    w, user = world, world.home.users[0]
    me = w.me(user)
    assert w.client.get("/v1/thresholds", headers=w.hotel).json() == DEFAULT_THRESHOLDS
    refused = w.client.get(f"/v1/decisions/{user}", params={"purpose": "hotel"}, headers=w.hotel)
    assert refused.status_code == 403 and refused.json()["error"] == "no_authorization"

    asked = w.client.post(
        "/v1/authorizations", headers=w.hotel, json={"user_id": user, "purpose": "hotel"}
    ).json()
    w.client.post(f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=me)
    score = w.client.get("/v1/me/score", headers=me).json()["score"]

    w.client.put("/v1/thresholds/hotel", headers=w.hotel, json={"threshold": score})
    approved = w.client.get(f"/v1/decisions/{user}", params={"purpose": "hotel"}, headers=w.hotel)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["decision"] == "approve" and body["threshold"] == score
    # Under a score-only authorization the line, which reveals capacity and debt, is left out.
    assert body["credit_line"] is None

    marks = w.client.put(
        "/v1/thresholds/hotel", headers=w.hotel, json={"threshold": min(score + 1, 950)}
    ).json()
    assert marks["hotel"] == min(score + 1, 950) and marks["bike"] == DEFAULT_THRESHOLDS["bike"]
    declined = w.client.get(f"/v1/decisions/{user}", params={"purpose": "hotel"}, headers=w.hotel)
    assert declined.json()["decision"] == "decline" and declined.json()["credit_line"] is None
    # Under score+dimensions, an approval comes with a line.
    wide = w.client.post(
        "/v1/authorizations",
        headers=w.bikes,
        json={"user_id": user, "purpose": "bike", "scope": "score+dimensions"},
    ).json()
    w.client.post(f"/v1/me/authorizations/{wide['authorization_id']}/grant", headers=me)
    w.client.put("/v1/thresholds/bike", headers=w.bikes, json={"threshold": 350})
    lined = w.client.get(f"/v1/decisions/{user}", params={"purpose": "bike"}, headers=w.bikes)
    assert lined.json()["decision"] == "approve" and lined.json()["credit_line"] >= 0
    # Another partner's marks are its own.
    assert w.client.get("/v1/thresholds", headers=w.bikes).json()["hotel"] == 600
    assert w.client.get("/v1/thresholds", headers=w.bikes).json()["bike"] == 350

    # Every decision attempt is a query record the person sees.
    with w.database.session() as session:
        recorded = session.execute(
            sa.select(Inquiry.outcome, Inquiry.decision).order_by(Inquiry.id)
        ).all()
    assert [tuple(r) for r in recorded] == [
        ("no_authorization", None),
        ("allowed", "approve"),
        ("allowed", "decline"),
        ("allowed", "approve"),
    ]
    seen = w.client.get("/v1/me/inquiries", headers=me).json()["items"]
    assert [q["decision"] for q in seen] == ["approve", "decline", "approve", None]
    bad = w.client.put("/v1/thresholds/hotel", headers=w.hotel, json={"threshold": 100})
    assert bad.status_code == 422


def test_no_decision_without_an_active_authorization(world: World) -> None:
    """A decision reads the score, so it is refused like a read: pending, revoked, expired,
    or for another purpose; each attempt is recorded with its reason and no decision."""
    w = world
    pending_user, revoked_user, expired_user = w.home.users[1:4]

    def ask(user: str, days: int = 30) -> str:
        made = w.client.post(
            "/v1/authorizations",
            headers=w.hotel,
            json={"user_id": user, "purpose": "hotel", "days": days},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["authorization_id"])

    def decision(user: str, purpose: str = "hotel") -> tuple[int, str]:
        answer = w.client.get(f"/v1/decisions/{user}", params={"purpose": purpose}, headers=w.hotel)
        return answer.status_code, answer.json().get("error", answer.json().get("decision"))

    ask(pending_user)
    assert decision(pending_user) == (403, "authorization_pending")

    granted = ask(revoked_user)
    w.client.post(f"/v1/me/authorizations/{granted}/grant", headers=w.me(revoked_user))
    assert decision(revoked_user)[0] == 200
    assert decision(revoked_user, "lending") == (403, "no_authorization")
    w.client.post(
        f"/v1/me/authorizations/{granted}/revoke",
        headers=w.me(revoked_user),
        json={"reason": "I chose another hotel"},
    )
    assert decision(revoked_user) == (403, "authorization_revoked")

    short = ask(expired_user, days=1)
    w.client.post(f"/v1/me/authorizations/{short}/grant", headers=w.me(expired_user))
    w.clock.set(w.clock.now() + timedelta(days=2))
    assert decision(expired_user) == (403, "authorization_expired")

    with w.database.session() as session:
        recorded = session.execute(
            sa.select(Inquiry.outcome, Inquiry.decision).order_by(Inquiry.id)
        ).all()
    assert tuple(recorded[1]) in {("allowed", "approve"), ("allowed", "decline")}
    assert [tuple(r) for i, r in enumerate(recorded) if i != 1] == [
        ("authorization_pending", None),
        ("no_authorization", None),
        ("authorization_revoked", None),
        ("authorization_expired", None),
    ]
