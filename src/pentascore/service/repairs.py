"""Overdue repair: once an overdue bill is repaid in full, the person may ask to have it
repaired, under a configurable policy (amount and days-to-repay limits, as in the PBOC's 2025
scheme). A repaired record weighs less through the features (its severity halves), and a
granted repair comes with one extra refresh."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from pentascore.core.clock import Clock
from pentascore.explain.actions import RepairPolicy
from pentascore.lake.store import ParquetLake
from pentascore.service.authorizations import audit
from pentascore.service.corrections import current_record, write_correction
from pentascore.service.db import Database, Repair
from pentascore.service.errors import Refused

REPAIRED = "repaired"
REFUSED = "refused"


def repair_event_id(repair_id: int) -> str:
    # SQLite may hand a rolled-back row's id out again: the random part keeps a correction
    # left by a failed request from colliding with the next one.
    return f"pentascore-repair-{repair_id}-{secrets.token_hex(4)}"


def repair_refusal(record: dict[str, object], policy: RepairPolicy) -> tuple[int, str, str] | None:
    """Why the record cannot be repaired (status, code, sentence), or None."""
    if record["type"] != "bill":
        return 422, "not_a_bill", "only an overdue bill can be repaired."
    late = int(record.get("days_past_due") or 0)  # type: ignore[call-overload]
    if late < 1:
        return 422, "never_overdue", "this bill was never overdue."
    if record.get("repaired"):
        return 409, "already_repaired", "this bill is repaired already."
    amount = int(record["amount"])  # type: ignore[call-overload]
    paid = int(record.get("paid_amount") or 0)  # type: ignore[call-overload]
    paid_ts = record.get("paid_ts")
    if not isinstance(paid_ts, datetime) or paid < amount:
        return 422, "not_repaid", "repay the bill in full first; then it can be repaired."
    if amount > policy.max_amount:
        return (
            422,
            "over_policy_amount",
            f"bills over {policy.max_amount / 100:,.2f} cannot be repaired under the policy.",
        )
    due = record["due_ts"]
    assert isinstance(due, datetime)
    days = (paid_ts - due).days
    if days > policy.max_days_to_repay:
        return (
            422,
            "repaid_too_late",
            f"it was repaid {days} days after it fell due; the policy repairs bills repaid "
            f"within {policy.max_days_to_repay} days.",
        )
    return None


def ask_repair(
    database: Database,
    lake: ParquetLake,
    rejects_dir: Path,
    clock: Clock,
    policy: RepairPolicy,
    user_ref: str,
    event_id: str,
) -> Repair:
    """Repairs the person's overdue bill ``event_id`` if the policy allows; every request is
    kept, granted or refused. Refused requests raise `Refused` after they are recorded."""
    record = current_record(lake, user_ref, event_id)
    now = clock.now()
    refusal = repair_refusal(record, policy)
    with database.session() as session:
        repair = Repair(
            user_ref=user_ref,
            event_id=event_id,
            asked_at=now,
            status=REFUSED if refusal else REPAIRED,
            reason=refusal[2] if refusal else None,
        )
        session.add(repair)
        session.flush()
        if refusal is None:
            repair.correction_event_id = repair_event_id(repair.id)
            write_correction(
                lake, rejects_dir, clock, record, repair.correction_event_id, {"repaired": True}
            )
        audit(
            session,
            now,
            "consumer",
            f"repair.{repair.status}",
            user_ref,
            event_id=event_id,
            reason=repair.reason,
        )
    if refusal is not None:
        raise Refused(refusal[0], refusal[1], refusal[2], repair_id=repair.id)
    return repair


def repairs_of(database: Database, user_ref: str) -> list[Repair]:
    with database.session() as session:
        return list(
            session.scalars(
                sa.select(Repair).where(Repair.user_ref == user_ref).order_by(Repair.id.desc())
            ).all()
        )
