"""Partner scenarios: a pass mark per partner and scenario, a decision, a credit line.

A decision is a read: it needs the same active authorization for that partner, person and
purpose, and it leaves the same query record (with the decision and the line on it).

The suggested credit line, in the currency's major units::

    headroom = clip((score - threshold) / 100, 0, 3)      # 0 at the pass mark, 3 at +300
    capacity = fulfillment capacity on the radar / 100    # 0 .. 1
    line     = 5,000 x headroom x (0.5 + capacity) - 0.5 x existing debt
    line     = max(0, line), rounded down to a multiple of 100

so a line grows with the margin over the pass mark and with capacity, and shrinks by half of
what the person already owes (open credit line balances, `fc_debt`). A decline has no line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pentascore.service.authorizations import PURPOSES, Status, audit, effective_status
from pentascore.service.db import Authorization, Database, Inquiry, ScenarioThreshold
from pentascore.service.errors import Refused
from pentascore.service.published import latest
from pentascore.service.reads import ALLOWED, NO_SCORE, _changed_at

DEFAULT_THRESHOLDS: dict[str, int] = {
    "bike": 550,
    "power_bank": 550,
    "hotel": 600,
    "car_rental": 650,
    "flat_rental": 650,
    "lending": 650,
    "other": 600,
}
LINE_PER_100_POINTS = 5_000
MAX_HEADROOM = 3.0
DEBT_SHARE = 0.5
LINE_STEP = 100
_REFUSALS = {
    None: "no_authorization",
    Status.PENDING: "authorization_pending",
    Status.DECLINED: "authorization_declined",
    Status.REVOKED: "authorization_revoked",
    Status.EXPIRED: "authorization_expired",
}


def credit_line(score: int, threshold: int, capacity_radar: int, debt: float) -> int:
    """The suggested line (major units) by the formula in this module's docstring."""
    headroom = min(max((score - threshold) / 100.0, 0.0), MAX_HEADROOM)
    line = LINE_PER_100_POINTS * headroom * (0.5 + capacity_radar / 100.0) - DEBT_SHARE * debt
    return int(math.floor(max(line, 0.0) / LINE_STEP) * LINE_STEP)


def thresholds(session: Session, partner_id: str) -> dict[str, int]:
    """The partner's pass marks: its own where set, else the defaults."""
    own = session.execute(
        sa.select(ScenarioThreshold.scenario, ScenarioThreshold.threshold).where(
            ScenarioThreshold.partner_id == partner_id
        )
    ).all()
    return DEFAULT_THRESHOLDS | {str(row[0]): int(row[1]) for row in own}


def set_threshold(
    database: Database, partner_id: str, scenario: str, threshold: int, now: datetime
) -> dict[str, int]:
    if scenario not in PURPOSES:
        raise Refused(422, "unknown_purpose", f"scenario must be one of {', '.join(PURPOSES)}.")
    if not 350 <= threshold <= 950:
        raise Refused(422, "bad_threshold", f"a pass mark is 350 to 950; got {threshold}.")
    with database.session() as session:
        session.merge(
            ScenarioThreshold(
                partner_id=partner_id, scenario=scenario, threshold=threshold, updated_at=now
            )
        )
        audit(
            session,
            now,
            f"partner:{partner_id}",
            "threshold.set",
            None,
            scenario=scenario,
            threshold=threshold,
        )
        session.flush()
        return thresholds(session, partner_id)


@dataclass(frozen=True)
class Decided:
    inquiry_id: int
    outcome: str
    decision: str | None
    reason: str
    score: int | None
    threshold: int
    credit_line: int | None


def decide(
    database: Database,
    partner_id: str,
    user_ref: str,
    purpose: str,
    now: datetime,
    debt_of: Callable[[str], float],
) -> Decided:
    """Approve or decline ``purpose`` for the person under the partner's pass mark, with a
    credit line on approval; refused (recorded all the same) without an active authorization.
    ``debt_of(user_ref)`` gives the person's existing debt in major units."""
    with database.session() as session:
        mark = thresholds(session, partner_id)[purpose]
        rows = session.scalars(
            sa.select(Authorization).where(
                Authorization.partner_id == partner_id,
                Authorization.user_ref == user_ref,
                Authorization.purpose == purpose,
            )
        ).all()
        statuses = [(effective_status(a, now), a) for a in rows]
        active = [a for status, a in statuses if status is Status.ACTIVE]
        chosen = active[0] if active else None
        score = latest(session, user_ref) if chosen else None
        if chosen is None:
            # The refusal a read would give: the latest change explains it.
            newest = max(statuses, key=lambda p: _changed_at(p[0], cast(Any, p[1])), default=None)
            outcome = _REFUSALS[newest[0] if newest else None]
        else:
            outcome = ALLOWED if score is not None else NO_SCORE
        decision = line = None
        reason = outcome
        if outcome == ALLOWED and score is not None:
            if score.score >= mark:
                decision = "approve"
                capacity = score.fulfillment_capacity_radar
                line = credit_line(score.score, mark, capacity, debt_of(user_ref))
                reason = f"score {score.score} meets the {purpose} pass mark {mark}"
            else:
                decision = "decline"
                reason = f"score {score.score} is below the {purpose} pass mark {mark}"
        inquiry = Inquiry(
            at=now,
            partner_id=partner_id,
            user_ref=user_ref,
            purpose=purpose,
            authorization_id=chosen.id if chosen else None,
            outcome=outcome,
            score=score.score if score and decision else None,
            as_of=score.as_of if score and decision else None,
            model=score.model if score and decision else None,
            decision=decision,
            credit_line=line,
        )
        session.add(inquiry)
        session.flush()
        return Decided(
            inquiry_id=inquiry.id,
            outcome=outcome,
            decision=decision,
            reason=reason,
            score=score.score if score and decision else None,
            threshold=mark,
            credit_line=line,
        )
