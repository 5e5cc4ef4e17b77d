"""Partner scenarios: a pass mark per partner and scenario, a decision, a credit line.

A decision is a read: it goes through the read path (`reads.ReadQueue`), which checks the
authorization and records the attempt in one transaction (rate-limited attempts too), and
the decision and the line are then written onto that query record.

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
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pentascore.core.types import Dimension
from pentascore.service.authorizations import PURPOSES, audit
from pentascore.service.db import Database, Inquiry, ScenarioThreshold
from pentascore.service.errors import Refused
from pentascore.service.reads import ALLOWED, Read

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


def credit_line(score: int, threshold: int, capacity_radar: int, debt: float) -> int:
    """The suggested line (major units) by the formula in this module's docstring, in exact
    arithmetic: 5,000 x (d / 100) x (0.5 + c / 100) - debt / 2 = (d x (50 + c) - debt) / 2."""
    d = min(max(score - threshold, 0), int(MAX_HEADROOM * 100))
    line = (Fraction(d * (50 + capacity_radar)) - Fraction(debt)) / 2
    return max(0, math.floor(line / LINE_STEP) * LINE_STEP)


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
    decision: str
    reason: str
    threshold: int
    credit_line: int | None


def decide(
    read: Read,
    purpose: str,
    mark: int,
    debt_of: Callable[[], float],
) -> Decided:
    """Approve or decline from an allowed read of the person's score (the read checked the
    authorization and recorded the attempt). The credit line uses the capacity dimension and
    the person's debt, so it is given only under a ``score+dimensions`` authorization."""
    assert read.outcome == ALLOWED and read.score is not None
    score = read.score.score
    if score < mark:
        return Decided(
            "decline", f"score {score} is below the {purpose} pass mark {mark}", mark, None
        )
    line = None
    if read.dimensions:
        capacity = read.score.radar[Dimension.FULFILLMENT_CAPACITY.value]
        line = credit_line(score, mark, capacity, debt_of())
    return Decided("approve", f"score {score} meets the {purpose} pass mark {mark}", mark, line)


def record_decision(database: Database, inquiry_id: int, decided: Decided) -> None:
    """Writes the decision onto the read's query record."""
    with database.session() as session:
        session.execute(
            sa.update(Inquiry)
            .where(Inquiry.id == inquiry_id)
            .values(decision=decided.decision, credit_line=decided.credit_line)
        )
