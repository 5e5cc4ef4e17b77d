"""The lake: append-only Parquet, one folder per committed batch.

Layout under the lake folder::

    events/batch-000001-<batch id>/events.parquet    committed batches, never rewritten
    events/batch-000001-<batch id>/manifest.json     what the batch holds and where it came from
    _staging/<batch id>/                              a batch being written (removed when done)
    .writer.lock                                      one writer at a time (flock)

A batch becomes visible in one step: its folder is renamed from ``_staging`` into ``events``,
and readers only ever list ``events``. A process killed before that rename leaves the lake as it
was; the next writer removes its leftovers. Events are idempotent by ``event_id``: a repeat with
the same content is a duplicate, a repeat with other content is refused (send a correction that
``supersedes`` the first). A correction never rewrites history: both events stay, and the
*current* view shows the latest of each chain.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import LakeError, StrictIngestError
from pentascore.events.schema import FIELDS, LAKE_SCHEMA
from pentascore.events.validate import EVENT_SCHEMA, REJECT_SCHEMA, ROW

SEQ = "_seq"
SOURCE = "_source"
_BATCH_DIR = re.compile(r"^batch-(\d{6,})-([A-Za-z0-9-]+)$")
_EVENT_COLUMNS = ", ".join(f'"{f.name}"' for f in FIELDS)
STAGED_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(SEQ, pa.int64()),
        pa.field(SOURCE, pa.string()),
        pa.field(ROW, pa.int64()),
        *EVENT_SCHEMA,
    ]
)


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


@dataclass(frozen=True)
class CommitResult:
    batch_id: str
    accepted: int
    duplicates: int
    rejects: pa.Table  # source, row, field, reason, event_id: conflicts found at commit
    path: Path | None  # the committed folder, or None when nothing new was accepted


@dataclass(frozen=True)
class LakeStats:
    events: int
    current_events: int
    users: int
    by_type: dict[str, int]
    first_ts: datetime | None
    last_ts: datetime | None
    batches: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "current_events": self.current_events,
            "users": self.users,
            "by_type": self.by_type,
            "first_ts": self.first_ts.isoformat() if self.first_ts else None,
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            "batches": self.batches,
        }


class ParquetLake:
    """A lake of Parquet files in a local folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events_dir = root / "events"
        self.staging_dir = root / "_staging"

    # --- reading ---------------------------------------------------------------------------

    def batch_dirs(self) -> list[Path]:
        if not self.events_dir.exists():
            return []
        dirs = [p for p in self.events_dir.iterdir() if p.is_dir() and _BATCH_DIR.match(p.name)]
        return sorted(dirs, key=lambda p: int(_BATCH_DIR.match(p.name).group(1)))  # type: ignore[union-attr]

    def files(self) -> list[Path]:
        """The committed Parquet files, oldest batch first."""
        return [f for d in self.batch_dirs() for f in sorted(d.glob("*.parquet"))]

    def events_sql(self, con: duckdb.DuckDBPyConnection, *, current: bool = False) -> str:
        """A SQL relation over the lake for ``con``: every stored event, or with ``current``
        only those no correction has superseded (and no void marker)."""
        files = self.files()
        if files:
            relation = f"read_parquet({_sql_list(files)}, union_by_name = false)"
        else:
            name = "_empty_lake"
            con.register(name, LAKE_SCHEMA.empty_table())
            relation = name
        if not current:
            return relation
        return (
            f"(SELECT * FROM {relation} AS e WHERE NOT coalesce(e.void, false) "
            f"AND e.event_id NOT IN "
            f"(SELECT supersedes FROM {relation} WHERE supersedes IS NOT NULL))"
        )

    def read(self, *, current: bool = False) -> pa.Table:
        """The whole lake as one Arrow table (small lakes: tests, tools)."""
        with duckdb.connect() as con:
            table = con.sql(
                f"SELECT * FROM {self.events_sql(con, current=current)}"
            ).to_arrow_table()
        return table.cast(LAKE_SCHEMA)

    def stats(self) -> LakeStats:
        with duckdb.connect() as con:
            stored = self.events_sql(con)
            current = self.events_sql(con, current=True)
            events, users, first_ts, last_ts = con.execute(
                f"SELECT count(*), count(DISTINCT user_id), min(ts), max(ts) FROM {stored}"
            ).fetchall()[0]
            (current_events,) = con.execute(f"SELECT count(*) FROM {current}").fetchall()[0]
            by_type = dict(
                con.sql(
                    f"SELECT type, count(*) FROM {stored} GROUP BY type ORDER BY type"
                ).fetchall()
            )
        return LakeStats(
            events=int(events),
            current_events=int(current_events),
            users=int(users),
            by_type={str(k): int(v) for k, v in by_type.items()},
            first_ts=first_ts,
            last_ts=last_ts,
            batches=len(self.batch_dirs()),
        )

    # --- writing ---------------------------------------------------------------------------

    @contextmanager
    def batch(self, batch_id: str) -> Iterator[BatchWriter]:
        """Write one batch atomically: stage rows, then `BatchWriter.commit`. Leaving the block
        without committing (an error, a strict-mode reject) leaves the lake as it was."""
        if not re.fullmatch(r"[A-Za-z0-9-]+", batch_id):
            raise LakeError(f"batch_id must be letters, digits and dashes; got {batch_id!r}.")
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / ".writer.lock"
        with lock_path.open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                self._remove_leftovers()
                stage = self.staging_dir / batch_id
                stage.mkdir(parents=True)
                writer = BatchWriter(self, batch_id, stage)
                try:
                    yield writer
                finally:
                    writer.close()
                    shutil.rmtree(stage, ignore_errors=True)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _remove_leftovers(self) -> None:
        # Only called under the writer lock: anything staged now belongs to a dead writer.
        if self.staging_dir.exists():
            shutil.rmtree(self.staging_dir)

    def _next_seq(self) -> int:
        dirs = self.batch_dirs()
        if not dirs:
            return 1
        last = _BATCH_DIR.match(dirs[-1].name)
        assert last is not None
        return int(last.group(1)) + 1


class BatchWriter:
    """Stages one batch as Parquet files, then commits it into the lake."""

    def __init__(self, lake: ParquetLake, batch_id: str, stage: Path) -> None:
        self.lake = lake
        self.batch_id = batch_id
        self.stage = stage
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = '{stage / 'tmp'}'")
        self.parts: list[Path] = []
        self.staged = 0
        self.committed: CommitResult | None = None

    def stage_rows(self, table: pa.Table, source: str) -> None:
        """Add valid, pseudonymized rows (`EVENT_SCHEMA` plus ``_row``) from ``source``."""
        n = table.num_rows
        if n == 0:
            return
        seq = pa.array(range(self.staged, self.staged + n), pa.int64())
        staged = table.add_column(0, SEQ, seq).add_column(
            1, SOURCE, pa.array([source] * n, pa.string())
        )
        part = self.stage / f"part-{len(self.parts):05d}.parquet"
        # Staging is written once and read once: fast compression, not small files.
        pq.write_table(staged.select(STAGED_SCHEMA.names), part, compression="lz4")
        self.parts.append(part)
        self.staged += n

    def _pairs_sql(self, pairs: str, lake: str | None) -> str:
        same = " AND ".join(f'a."{f.name}" IS NOT DISTINCT FROM b."{f.name}"' for f in FIELDS)
        other = lake if lake is not None else "incoming"
        key = "event_id" if lake is not None else SEQ
        return f"""
            SELECT p.{SEQ}, ({same}) AS same
            FROM {pairs} p
            JOIN incoming b ON b.{SEQ} = p.{SEQ}
            JOIN (SELECT * FROM {other} WHERE {key} IN (SELECT original FROM {pairs})) a
              ON a.{key} = p.original
        """

    def commit(
        self, ingested_at: datetime, sources: list[str], *, strict: bool = False
    ) -> CommitResult:
        """Drop repeats, refuse conflicts and dangling corrections, then publish the rest.

        With ``strict``, any refused row raises `StrictIngestError` and nothing is published.
        Only the ids of the batch are held in memory; full rows are compared only for ids that
        repeat.
        """
        con = self.con
        lake_files = self.lake.files()
        lake = f"read_parquet({_sql_list(lake_files)})" if lake_files else None
        if self.parts:
            con.execute(
                f"CREATE VIEW incoming AS SELECT * FROM read_parquet({_sql_list(self.parts)})"
            )
        else:
            con.register("incoming", STAGED_SCHEMA.empty_table())
        con.execute(f"CREATE TEMP TABLE ids AS SELECT {SEQ}, event_id FROM incoming")
        con.execute("CREATE TEMP TABLE repeats (_seq BIGINT, same BOOLEAN, other VARCHAR)")

        # Repeats inside the batch: the first occurrence stands for the others.
        con.execute(
            f"""
            CREATE TEMP TABLE batch_pairs AS
            WITH firsts AS (
                SELECT event_id, min({SEQ}) AS first_seq FROM ids
                GROUP BY event_id HAVING count(*) > 1
            )
            SELECT i.{SEQ}, f.first_seq AS original
            FROM ids i JOIN firsts f USING (event_id) WHERE i.{SEQ} <> f.first_seq
            """
        )
        if _count(con, "batch_pairs"):
            con.execute(
                "INSERT INTO repeats SELECT *, 'batch' "
                f"FROM ({self._pairs_sql('batch_pairs', None)})"
            )
        # Repeats of events already in the lake.
        if lake is not None:
            con.execute(
                f"""
                CREATE TEMP TABLE lake_pairs AS
                SELECT i.{SEQ}, i.event_id AS original FROM ids i
                SEMI JOIN (SELECT event_id FROM {lake}) l USING (event_id)
                WHERE i.{SEQ} NOT IN (SELECT {SEQ} FROM repeats)
                """
            )
            if _count(con, "lake_pairs"):
                con.execute(
                    "INSERT INTO repeats SELECT *, 'lake' "
                    f"FROM ({self._pairs_sql('lake_pairs', lake)})"
                )
        # A correction must name an earlier event of the same user and type.
        targets = (
            "SELECT event_id, user_id, type FROM incoming "
            f"WHERE {SEQ} NOT IN (SELECT {SEQ} FROM repeats)"
        )
        if lake is not None:
            targets += f" UNION ALL SELECT event_id, user_id, type FROM {lake}"
        con.execute(
            f"""
            CREATE TEMP TABLE dangling AS
            WITH corrections AS (
                SELECT {SEQ}, supersedes, user_id, type FROM incoming
                WHERE supersedes IS NOT NULL AND {SEQ} NOT IN (SELECT {SEQ} FROM repeats)
            )
            SELECT c.{SEQ} FROM corrections c
            WHERE NOT EXISTS (
                SELECT 1 FROM ({targets}) t
                WHERE t.event_id = c.supersedes AND t.user_id = c.user_id AND t.type = c.type)
            """
        )
        rejects = con.sql(
            f"""
            SELECT {SOURCE} AS source, {ROW} AS row, field, reason, event_id FROM (
                SELECT i.{SOURCE}, i.{ROW}, 'event_id' AS field,
                       'already used by a different event' ||
                       CASE WHEN r.other = 'lake' THEN ' in the lake'
                            ELSE ' earlier in this batch' END ||
                       '; to change an event, send a new one with supersedes = ''' ||
                       i.event_id || '''' AS reason,
                       i.event_id
                FROM incoming i JOIN (SELECT * FROM repeats WHERE NOT same) r USING ({SEQ})
                WHERE i.{SEQ} IN (SELECT {SEQ} FROM repeats WHERE NOT same)
                UNION ALL
                SELECT i.{SOURCE}, i.{ROW}, 'supersedes',
                       'no event ''' || i.supersedes ||
                       ''' of this user and type in the lake or this batch', i.event_id
                FROM incoming i JOIN dangling USING ({SEQ})
                WHERE i.{SEQ} IN (SELECT {SEQ} FROM dangling)
            ) ORDER BY source, row
            """
        ).to_arrow_table()
        if strict and rejects.num_rows:
            first = rejects.slice(0, 1).to_pylist()[0]
            raise StrictIngestError(first["source"], first["row"], first["field"], first["reason"])
        duplicates = _count(con, "repeats WHERE same")
        dropped = f"SELECT {SEQ} FROM repeats UNION ALL SELECT {SEQ} FROM dangling"
        accepted = self.staged - _count(con, f"({dropped})")

        path: Path | None = None
        if accepted:
            seq = self.lake._next_seq()
            ready = self.stage / "ready"
            ready.mkdir()
            con.execute(
                f"""
                COPY (
                    SELECT {_EVENT_COLUMNS}, ? AS batch_id, ?::TIMESTAMPTZ AS ingested_at
                    FROM incoming WHERE {SEQ} NOT IN ({dropped})
                ) TO '{ready / "events.parquet"}'
                (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
                """,
                [self.batch_id, ingested_at],
            )
            manifest = {
                "batch_id": self.batch_id,
                "seq": seq,
                "ingested_at": ingested_at.isoformat(),
                "events": int(accepted),
                "duplicates": int(duplicates),
                "sources": sources,
                "schema": "pentascore.events/1",
            }
            (ready / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            _fsync_tree(ready)
            self.lake.events_dir.mkdir(parents=True, exist_ok=True)
            path = self.lake.events_dir / f"batch-{seq:06d}-{self.batch_id}"
            os.rename(ready, path)  # the commit point: the batch appears whole or not at all
            _fsync_dir(self.lake.events_dir)
        self.committed = CommitResult(
            batch_id=self.batch_id,
            accepted=int(accepted),
            duplicates=int(duplicates),
            rejects=rejects,
            path=path,
        )
        return self.committed

    def close(self) -> None:
        self.con.close()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    (n,) = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(n)


def _fsync_tree(folder: Path) -> None:
    for item in folder.iterdir():
        with item.open("rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


REJECTS_WITH_SOURCE: pa.Schema = pa.schema([pa.field("source", pa.string()), *REJECT_SCHEMA])
