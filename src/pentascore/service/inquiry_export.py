"""Allowed score reads become inquiry events in the lake, where the inquiry features count
them. The inquiries table is the outbox: rows are marked once their batch is committed, and
a crash between the two only repeats event ids the lake already holds (ingest is idempotent
by event id).

One partner reading one person for one purpose several times in a UTC day is one inquiry,
as bureaus count repeated pulls for the same application once: a partner re-checking a score
must not lower it. The event is dated at the end of that day, the same for every read of it,
so reads exported at different times write the very same event (a duplicate the lake skips),
and no feature sees a read before it happened."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time
from pathlib import Path

import sqlalchemy as sa

from pentascore.core.clock import Clock
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.lake.store import ParquetLake
from pentascore.service.db import Database, Inquiry
from pentascore.service.reads import ALLOWED

BATCH = 50_000
_IN_LIST = 5_000  # below SQLite's limit of bound parameters


def inquiry_event_id(user_ref: str, partner_id: str, purpose: str, at: datetime) -> str:
    """The same for every read of the person by the partner for the purpose on that UTC day."""
    key = f"{user_ref}|{partner_id}|{purpose}|{at.astimezone(UTC).date().isoformat()}"
    return f"pentascore-inquiry-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def inquiry_day_end(at: datetime) -> datetime:
    """The last microsecond of ``at``'s UTC day: when that day's inquiry is dated."""
    day = at.astimezone(UTC).date()
    return datetime.combine(day, time.max, tzinfo=UTC)


def export_inquiries(database: Database, lake: ParquetLake, rejects_dir: Path, clock: Clock) -> int:
    """Writes every allowed read recorded so far and not yet in the lake as an inquiry event;
    returns how many reads. Reads recorded while it runs wait for the next export, so it
    ends even while partners keep reading."""
    total = 0
    with database.session() as session:
        last = session.scalar(sa.select(sa.func.max(Inquiry.id)))
    if last is None:
        return 0
    while True:
        with database.session() as session:
            rows = session.execute(
                sa.select(
                    Inquiry.id, Inquiry.user_ref, Inquiry.at, Inquiry.purpose, Inquiry.partner_id
                )
                .where(Inquiry.exported.is_(False), Inquiry.outcome == ALLOWED, Inquiry.id <= last)
                .order_by(Inquiry.id)
                .limit(BATCH)
            ).all()
        if not rows:
            return total
        records = [
            {
                "event_id": inquiry_event_id(r.user_ref, r.partner_id, r.purpose, r.at),
                "user_id": r.user_ref,
                "type": "inquiry",
                "ts": inquiry_day_end(r.at).isoformat(),
                "scenario": r.purpose,
                "partner_id": r.partner_id,
            }
            for r in rows
        ]
        records = list({r["event_id"]: r for r in records}.values())
        # The user ids are pseudonyms already: key None stores them as they are.
        ingest_chunks(
            [records_chunk(records, "service inquiries")],
            lake=lake,
            key=None,
            rejects_dir=rejects_dir,
            clock=clock,
            strict=True,
        )
        ids = [r.id for r in rows]
        with database.session() as session:
            for start in range(0, len(ids), _IN_LIST):
                session.execute(
                    sa.update(Inquiry)
                    .where(Inquiry.id.in_(ids[start : start + _IN_LIST]))
                    .values(exported=True)
                )
        total += len(rows)
