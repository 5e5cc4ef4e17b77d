"""No sequence of request / grant / decline / revoke / expiry / read ever returns a score
without an active, matching authorization, and every read leaves exactly one record.

The model below keeps its own account of each authorization, written from the rules rather
than from the service's code, and the service must agree with it at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    rule,
    run_state_machine_as_test,
)

from pentascore.service.db import Base, Database, Inquiry
from tests.service.conftest import ScoredHome, World, make_world

PURPOSES = ("hotel", "bike")
LIFECYCLE = ("pending", "active", "declined", "revoked", "expired")


@dataclass
class Consent:
    """The model's view of one authorization."""

    id: str
    partner: str
    user: str
    purpose: str
    days: int
    requested_at: datetime
    status: str = "pending"
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    revoked_at: datetime | None = None

    def effective(self, now: datetime) -> str:
        if self.status == "active" and self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.status == "pending" and now >= self.requested_at + timedelta(days=30):
            return "expired"
        return self.status

    def last_change(self, now: datetime) -> tuple[datetime, int]:
        """When it last changed (an expiry when its time ran out), and, for changes at the
        same moment, how late its state comes in the lifecycle."""
        state = self.effective(now)
        if state == "expired":
            at = self.expires_at or self.requested_at + timedelta(days=30)
        else:
            at = self.revoked_at or self.decided_at or self.requested_at
        return at, LIFECYCLE.index(state)


def _empty(database: Database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


class ConsentMachine(RuleBasedStateMachine):
    consents = Bundle("consents")

    def __init__(self, make: object) -> None:
        super().__init__()
        self.make = make
        self.model: dict[str, Consent] = {}
        self.reads = 0

    @initialize()
    def start(self) -> None:
        assert callable(self.make)
        self.w: World = self.make()
        self.tokens = {u: self.w.me(u) for u in self.w.home.users[:2]}
        self.partners = {"hotel": self.w.hotel, "bikes": self.w.bikes}

    @property
    def now(self) -> datetime:
        return self.w.clock.now()

    @rule(
        target=consents,
        partner=st.sampled_from(["hotel", "bikes"]),
        user=st.integers(0, 1),
        purpose=st.sampled_from(PURPOSES),
        days=st.integers(1, 3),
    )
    def ask(self, partner: str, user: int, purpose: str, days: int) -> str:
        user_id = self.w.home.users[user]
        response = self.w.client.post(
            "/v1/authorizations",
            headers=self.partners[partner],
            json={"user_id": user_id, "purpose": purpose, "days": days},
        )
        assert response.status_code in (200, 201), response.text
        made = response.json()
        if response.status_code == 201:
            self.model[made["authorization_id"]] = Consent(
                made["authorization_id"], partner, user_id, purpose, days, self.now
            )
        else:  # the same request still pending comes back
            assert self.model[made["authorization_id"]].effective(self.now) == "pending"
        return str(made["authorization_id"])

    def _decide(self, consent_id: str, action: str, expected_from: str, to: str) -> None:
        consent = self.model[consent_id]
        path = f"/v1/me/authorizations/{consent_id}/{action}"
        body = {"reason": "changed my mind"} if action == "revoke" else None
        response = self.w.client.post(path, headers=self.tokens[consent.user], json=body)
        if consent.effective(self.now) == expected_from:
            assert response.status_code == 200, response.text
            consent.status = to
            if to == "revoked":
                consent.revoked_at = self.now
            else:
                consent.decided_at = self.now
            if to == "active":
                consent.expires_at = self.now + timedelta(days=consent.days)
        else:
            assert response.status_code == 409, response.text
            consent.status = consent.effective(self.now)
        assert response.json().get("status", consent.status) == consent.effective(self.now)

    @rule(consent=consents)
    def grant(self, consent: str) -> None:
        self._decide(consent, "grant", "pending", "active")

    @rule(consent=consents)
    def decline(self, consent: str) -> None:
        self._decide(consent, "decline", "pending", "declined")

    @rule(consent=consumes(consents))
    def revoke(self, consent: str) -> None:
        self._decide(consent, "revoke", "active", "revoked")

    @rule(consent=consents)
    def someone_else_decides(self, consent: str) -> None:
        owner = self.model[consent].user
        other = next(u for u in self.tokens if u != owner)
        response = self.w.client.post(
            f"/v1/me/authorizations/{consent}/grant", headers=self.tokens[other]
        )
        assert response.status_code == 404

    @rule(hours=st.sampled_from([1, 12, 23, 24, 25, 48, 24 * 31]))
    def time_passes(self, hours: int) -> None:
        self.w.clock.set(self.now + timedelta(hours=hours))

    @rule(
        partner=st.sampled_from(["hotel", "bikes"]),
        user=st.integers(0, 1),
        purpose=st.sampled_from(PURPOSES),
    )
    def read(self, partner: str, user: int, purpose: str) -> None:
        user_id = self.w.home.users[user]
        response = self.w.client.get(
            f"/v1/scores/{user_id}", params={"purpose": purpose}, headers=self.partners[partner]
        )
        self.reads += 1
        matching = [
            c
            for c in self.model.values()
            if c.partner == partner and c.user == user_id and c.purpose == purpose
        ]
        if any(c.effective(self.now) == "active" for c in matching):
            assert response.status_code == 200, response.text
            assert 350 <= response.json()["score"] <= 950
        else:
            assert response.status_code == 403, response.text
            assert "score" not in response.json()
            # The refusal is explained by the authorization that changed last.
            last = max(matching, key=lambda c: c.last_change(self.now), default=None)
            reason = (
                "no_authorization" if last is None else f"authorization_{last.effective(self.now)}"
            )
            assert response.json()["error"] == reason
        with self.w.database.session() as session:
            recorded = session.scalar(sa.select(sa.func.count()).select_from(Inquiry))
        assert recorded == self.reads


def test_no_score_without_an_active_matching_authorization(
    scored_home: ScoredHome, database: Database, tmp_path: Path
) -> None:
    runs = iter(range(1_000_000))

    def make() -> World:
        _empty(database)
        return make_world(scored_home, database, tmp_path / f"home-{next(runs)}", copy=False)

    run_state_machine_as_test(
        lambda: ConsentMachine(make),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
