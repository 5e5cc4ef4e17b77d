"""Disputes: a person contests one of their records; an operator decides within 20 days.

::

    pending --uphold (fix or void the record, rescore, tell the person)--> upheld
       +-----reject (the operator's explanation)-----------------------> rejected

The dispute is visible as pending from the moment it is filed. Upholding writes a correction
to the lake (new values for the record, or a void), rescores the person at once without
using up their monthly refresh, and publishes the new score. Every step is also written to
the audit log, so the whole history is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pentascore.core.clock import Clock
from pentascore.events.schema import COMMON_REQUIRED, PII_FIELDS
from pentascore.lake.store import ParquetLake
from pentascore.service.authorizations import audit
from pentascore.service.corrections import current_record, latest_version, write_correction
from pentascore.service.db import CORRECTION, Database, Dispute, PublishedScore
from pentascore.service.errors import Refused
from pentascore.service.published import withdraw
from pentascore.service.refresh import Rescorer, rescore

DISPUTE_DAYS = 20
PENDING, UPHELD, REJECTED = "pending", "upheld", "rejected"
# What a correction may not change: who and what the record is about.
_FIXED = {*COMMON_REQUIRED, *PII_FIELDS, "supersedes", "void"}


def dispute_event_id(dispute_id: int) -> str:
    return f"pentascore-dispute-{dispute_id}"


def file_dispute(
    database: Database,
    lake: ParquetLake,
    clock: Clock,
    user_ref: str,
    event_id: str,
    reason: str,
) -> Dispute:
    current_record(lake, user_ref, event_id)  # the person's own, current record
    now = clock.now()
    with database.session() as session:
        open_ = session.scalar(
            sa.select(Dispute.id).where(
                Dispute.user_ref == user_ref,
                Dispute.event_id == event_id,
                Dispute.status == PENDING,
            )
        )
        if open_ is not None:
            raise Refused(409, "already_disputed", f"dispute {open_} about this record is open.")
        dispute = Dispute(
            user_ref=user_ref,
            event_id=event_id,
            reason=reason,
            status=PENDING,
            filed_at=now,
            due_at=now + timedelta(days=DISPUTE_DAYS),
        )
        session.add(dispute)
        session.flush()
        audit(session, now, "consumer", "dispute.filed", user_ref, dispute_id=dispute.id)
    return dispute


@dataclass(frozen=True)
class Queued:
    dispute: Dispute
    late: bool


def queue(
    database: Database, now: datetime, offset: int = 0, limit: int = 50
) -> tuple[list[Queued], bool]:
    """Pending disputes by deadline, so the late ones come first; and whether more follow."""
    with database.session() as session:
        rows = session.scalars(
            sa.select(Dispute)
            .where(Dispute.status == PENDING)
            .order_by(Dispute.due_at, Dispute.id)
            .offset(offset)
            .limit(limit + 1)
        ).all()
    return [Queued(d, d.due_at < now) for d in rows[:limit]], len(rows) > limit


def disputes_of(database: Database, user_ref: str) -> Sequence[Dispute]:
    with database.session() as session:
        return session.scalars(
            sa.select(Dispute).where(Dispute.user_ref == user_ref).order_by(Dispute.id.desc())
        ).all()


def _claim(database: Database, dispute_id: int, status: str, now: datetime, note: str) -> Dispute:
    """Moves a pending dispute to ``status`` with one conditional update, so two operators
    deciding at once cannot both succeed (SQLite has no row locks)."""
    with database.session() as session:
        claimed = session.execute(
            sa.update(Dispute)
            .where(Dispute.id == dispute_id, Dispute.status == PENDING)
            .values(status=status, decided_at=now, operator_note=note)
        )
        dispute = session.get(Dispute, dispute_id)
        if dispute is None:
            raise Refused(404, "not_found", f"no dispute {dispute_id}.")
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Refused(409, "not_pending", f"dispute {dispute_id} is {dispute.status} already.")
        return dispute


def uphold(
    database: Database,
    lake: ParquetLake,
    rejects_dir: Path,
    clock: Clock,
    rescorer: Rescorer,
    dispute_id: int,
    note: str,
    *,
    changes: dict[str, Any] | None = None,
    void: bool = False,
) -> Dispute:
    """Upholds the dispute: fixes (``changes``) or voids the record, rescores the person and
    publishes the new score.

    The dispute is claimed first (pending -> upheld, once), then the correction is written
    (dated just after the version it corrects: see `write_correction`). If the correction or
    the rescore fails, the claim is undone and the dispute is pending again; a retry finds a
    correction already written as the record's newest version and does not write it twice.
    The dispute may name any version of the record: the newest one is corrected."""
    if void == bool(changes):
        raise Refused(422, "fix_or_void", "uphold with either changes to the record or void.")
    fixed = sorted(set(changes or {}) & _FIXED)
    if fixed:
        raise Refused(422, "fixed_field", f"a correction cannot change {', '.join(fixed)}.")
    now = clock.now()
    with database.session() as session:
        found = session.get(Dispute, dispute_id)
        if found is None:
            raise Refused(404, "not_found", f"no dispute {dispute_id}.")
        if found.status != PENDING:
            raise Refused(409, "not_pending", f"dispute {dispute_id} is {found.status} already.")
        user_ref, event_id = found.user_ref, found.event_id
    record = latest_version(lake, user_ref, event_id)
    correction = dispute_event_id(dispute_id)
    # A retry after a failure once the correction was written finds it as the newest version.
    written = record is not None and record["event_id"] == correction
    if not written:
        record = current_record(lake, user_ref, event_id)
    dispute = _claim(database, dispute_id, UPHELD, now, note)
    try:
        if not written:
            assert record is not None
            write_correction(
                lake,
                rejects_dir,
                clock,
                record,
                correction,
                {"void": True} if void else dict(changes or {}),
            )
        try:
            row = rescore(rescorer, user_ref, now)
        except Refused:  # a file too thin to score once the record is gone: no new score
            row = None
    except Exception:
        with database.session() as session:
            session.execute(
                sa.update(Dispute)
                .where(Dispute.id == dispute_id, Dispute.status == UPHELD)
                .values(status=PENDING, decided_at=None, operator_note=None)
            )
        raise
    with database.session() as session:
        dispute = session.get(Dispute, dispute_id)  # type: ignore[assignment]
        assert dispute is not None
        dispute.correction_event_id = correction
        withdrawn = 0
        if row is not None:
            session.merge(
                PublishedScore(**row, published_at=now, source=CORRECTION, withdrawn_at=None)
            )
            dispute.new_score = row["score"]
        else:
            withdrawn = withdraw(session, user_ref, now)
        audit(
            session,
            now,
            "operator",
            "dispute.upheld",
            user_ref,
            dispute_id=dispute_id,
            note=note,
            void=void,
            changes=changes or {},
            new_score=dispute.new_score,
            scores_withdrawn=withdrawn,
        )
    return dispute


def reject(database: Database, clock: Clock, dispute_id: int, note: str) -> Dispute:
    """Rejects the dispute: the pending flag is lifted with the operator's explanation."""
    now = clock.now()
    dispute = _claim(database, dispute_id, REJECTED, now, note)
    with database.session() as session:
        audit(session, now, "operator", "dispute.rejected", dispute.user_ref, dispute_id=dispute_id)
    return dispute
