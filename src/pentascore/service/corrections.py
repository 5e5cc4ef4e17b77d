"""Corrections the service writes to the lake on a person's behalf: repairs and upheld
disputes. A correction supersedes the record's current version (or voids it), and goes
through ingest's own checks; identifiers in the lake are pseudonyms already, so they are
stored as they are."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pentascore.core.clock import Clock
from pentascore.core.errors import StrictIngestError
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.lake.store import ParquetLake
from pentascore.service.errors import Refused

_LAKE_ONLY = ("batch_id", "ingested_at")


def current_record(lake: ParquetLake, user_ref: str, event_id: str) -> dict[str, Any]:
    """The current version of one of the person's records; 404 when there is none (another
    person's record is "not found" too)."""
    with duckdb.connect() as con:
        rows = (
            con.sql(
                f"SELECT * FROM {lake.events_sql(con, current=True)} "
                "WHERE event_id = $id AND user_id = $user",
                params={"id": event_id, "user": user_ref},
            )
            .to_arrow_table()
            .to_pylist()
        )
    if not rows:
        raise Refused(404, "no_record", f"you have no current record {event_id}.")
    record: dict[str, Any] = rows[0]
    return record


def write_correction(
    lake: ParquetLake,
    rejects_dir: Path,
    clock: Clock,
    original: dict[str, Any],
    event_id: str,
    changes: dict[str, Any],
    at: datetime | None = None,
) -> datetime:
    """Writes ``original`` with ``changes`` as a correction superseding it, dated ``at``
    (default now); returns its date. The same event id and date again is a duplicate, so a
    retried correction is stored once."""
    record = {k: v for k, v in original.items() if k not in _LAKE_ONLY and v is not None}
    record.update(changes)
    when = at if at is not None else clock.now()
    record.update(event_id=event_id, supersedes=original["event_id"], ts=when)
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
