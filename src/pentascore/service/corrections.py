"""Corrections the service writes to the lake on a person's behalf: repairs and upheld
disputes. A correction supersedes the record's current version (or voids it), and goes
through ingest's own checks; identifiers in the lake are pseudonyms already, so they are
stored as they are."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pentascore.core.clock import Clock
from pentascore.core.errors import StrictIngestError
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.lake.store import ParquetLake
from pentascore.service.errors import Refused

_LAKE_ONLY = ("batch_id", "ingested_at")


def latest_version(lake: ParquetLake, user_ref: str, event_id: str) -> dict[str, Any] | None:
    """The newest version of one of the person's records, following its corrections forward
    (a void marker included); None when the person has no such record."""
    with duckdb.connect() as con:
        rows = (
            con.sql(
                f"SELECT * FROM {lake.events_sql(con)} WHERE user_id = $user "
                "AND (event_id = $id OR supersedes IS NOT NULL)",
                params={"id": event_id, "user": user_ref},
            )
            .to_arrow_table()
            .to_pylist()
        )
    found = next((r for r in rows if r["event_id"] == event_id), None)
    corrections: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["supersedes"] is not None:
            corrections.setdefault(row["supersedes"], []).append(row)
    seen = set()
    while found is not None and found["event_id"] in corrections and found["event_id"] not in seen:
        seen.add(found["event_id"])
        # Several corrections of one version: the latest wins, as in the lake's own rule.
        found = max(corrections[found["event_id"]], key=lambda r: (r["ts"], r["event_id"]))
    return found


def current_record(lake: ParquetLake, user_ref: str, event_id: str) -> dict[str, Any]:
    """The current version of one of the person's records (``event_id`` may name any earlier
    version of it); 404 when there is none or it was voided (another person's record is "not
    found" too)."""
    record = latest_version(lake, user_ref, event_id)
    if record is None:
        raise Refused(404, "no_record", f"you have no current record {event_id}.")
    if record["void"]:
        raise Refused(404, "no_record", f"record {event_id} was cancelled.")
    return record


def write_correction(
    lake: ParquetLake,
    rejects_dir: Path,
    clock: Clock,
    current: dict[str, Any],
    event_id: str,
    changes: dict[str, Any],
) -> datetime:
    """Writes the record's ``current`` version with ``changes`` as a correction superseding
    it; returns the correction's date.

    The correction is dated a microsecond after the version it corrects, not when it was
    made: it says what the record should have said, so windows, decay and the person's last
    activity keep the record's own dates, and a later correction still sorts after it. The
    same event id again is a duplicate, so a retried correction is stored once."""
    record = {k: v for k, v in current.items() if k not in _LAKE_ONLY and v is not None}
    record.update(changes)
    when: datetime = current["ts"] + timedelta(microseconds=1)
    record.update(event_id=event_id, supersedes=current["event_id"], ts=when)
    text = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()}
    try:
        ingest_chunks(
            [records_chunk([text], "correction")],
            lake=lake,
            key=None,
            rejects_dir=rejects_dir,
            clock=clock,
            strict=True,
        )
    except StrictIngestError as exc:
        raise Refused(422, "bad_correction", f"{exc.field}: {exc.reason}") from exc
    return when
