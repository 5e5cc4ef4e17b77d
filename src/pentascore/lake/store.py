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
import itertools
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pentascore.core.arrow import as_one_array
from pentascore.core.errors import LakeError, StrictIngestError
from pentascore.events.schema import FIELDS, LAKE_SCHEMA
from pentascore.events.validate import REJECT_SCHEMA, ROW, SOURCE

# Dictionary pages only for columns whose values repeat within a row group (users, types,
# choices, currencies, partners): trying them on unique ids, timestamps and amounts costs a hash
# of every value for nothing. Pseudonyms of accounts, counterparties, addresses, phones and
# national ids repeat too rarely: at the benchmark's 140,000 users their dictionaries overflow
# and the pages fall back to plain, so plain pages are as small and the write 5% cheaper.
_REPEATING = ("id", "string", "choice", "currency")
_UNIQUE = ("event_id", "supersedes")
_SCATTERED = tuple(f.name for f in FIELDS if f.pii and f.name != "user_id")
# Min and max only for the text that readers look rows up by (event ids, corrections, users,
# types, batches): every other text column (accounts, addresses, choices ...) has nearly all
# its values in every row group, so its statistics never let a reader skip one, and they cost
# a comparison of every value (about 13% of the write).
_LOOKED_UP = (*_UNIQUE, "user_id", "type", "batch_id")
PARQUET_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "row_group_size": 122_880,
    "use_dictionary": [
        *(
            f.name
            for f in FIELDS
            if f.kind in _REPEATING and f.name not in _UNIQUE and f.name not in _SCATTERED
        ),
        "batch_id",
    ],
    "write_statistics": [
        f.name for f in LAKE_SCHEMA if not pa.types.is_string(f.type) or f.name in _LOOKED_UP
    ],
}
_BATCH_DIR = re.compile(r"^batch-(\d{6,})-([A-Za-z0-9-]+)$")


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def superseded_sql(lake: str, seen: str) -> str:
    """The ids of events that are not current among those the condition ``seen`` keeps: every
    event a correction names, and, when several corrections name the same event, all but the
    latest of them (by ts, then event_id), so a chain has exactly one current version."""
    return f"""
        SELECT supersedes AS event_id FROM {lake} WHERE {seen} AND supersedes IS NOT NULL
        UNION
        SELECT event_id FROM (
            SELECT event_id, row_number() OVER (
                PARTITION BY supersedes ORDER BY ts DESC, event_id DESC) AS n
            FROM {lake} WHERE {seen} AND supersedes IS NOT NULL
        ) WHERE n > 1"""


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
    """A lake of Parquet files in a local folder (see the module docstring).

    Each batch is committed with a DuckDB database. By default a batch opens one of its own,
    which spills into the batch's staging folder: right for large batches (the CLI's). But
    opening and closing a database costs 25-35 ms, most of a one-event batch, so a lake made
    with ``small_batches`` (the service's, whose batches are bounded request bodies) keeps one
    in memory, made on its first batch and closed by `close`; each batch works on a cursor of
    it, in temporary tables of its own.
    """

    def __init__(self, root: Path, *, small_batches: bool = False) -> None:
        self.root = root
        self.events_dir = root / "events"
        self.staging_dir = root / "_staging"
        self._small_batches = small_batches
        self._database: duckdb.DuckDBPyConnection | None = None
        self._database_lock = threading.Lock()

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
            f"AND e.event_id NOT IN ({superseded_sql(relation, 'true')}))"
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
    def batch(self, batch_id: str, ingested_at: datetime) -> Iterator[BatchWriter]:
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
                writer = BatchWriter(self, batch_id, stage, ingested_at)
                try:
                    yield writer
                finally:
                    writer.close()
                    shutil.rmtree(stage, ignore_errors=True)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _batch_connection(self, stage: Path) -> duckdb.DuckDBPyConnection:
        """A connection for one batch's commit, for the batch to close."""
        if not self._small_batches:
            con = duckdb.connect()
            con.execute(f"SET temp_directory = '{stage / 'tmp'}'")
            return con
        with self._database_lock:  # a connection must not be used by two threads at once
            if self._database is None:
                # Never spilled to disk: a small batch does not need it.
                self._database = duckdb.connect(config={"temp_directory": ""})
            return self._database.cursor()

    def close(self) -> None:
        """Close the database kept for small batches, if one was made (a later batch would
        make another)."""
        with self._database_lock:
            if self._database is not None:
                self._database.close()
                self._database = None

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
    """Stages one batch as the lake's own files, then commits it into the lake.

    Checked rows are written once, in their final form (zstd Parquet with the batch's id and
    time), on a background thread so that writing one chunk overlaps checking the next. Their
    event ids, sources and row numbers stay in memory for the commit, which skips the search
    for repeats when the ids cannot repeat (each part's ids strictly increase and the parts'
    ranges, and the lake's, do not overlap). Rows are rewritten only in the rare batch that
    repeats or conflicts.
    """

    def __init__(
        self, lake: ParquetLake, batch_id: str, stage: Path, ingested_at: datetime
    ) -> None:
        self.lake = lake
        self.batch_id = batch_id
        self.ingested_at = ingested_at
        self.stage = stage
        self.ready = stage / "ready"
        self.ready.mkdir()
        self.con = lake._batch_connection(stage)
        self.parts: list[str] = []
        self.staged = 0
        # Per part: its ids with their sources, rows, users, types and the ids they supersede,
        # whether the ids strictly increase, and their (min, max).
        self._ids: list[pa.Table] = []
        self._ascending: list[bool] = []
        self._id_ranges: list[tuple[str, str]] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer")
        self._pending: Future[None] | None = None

    def stage_rows(self, table: pa.Table) -> None:
        """Add checked, pseudonymized rows (`CHECKED_SCHEMA`: source, row, event fields)."""
        n = table.num_rows
        if n == 0:
            return
        events = table.select([f.name for f in FIELDS])
        events = events.append_column(
            "batch_id", pa.repeat(pa.scalar(self.batch_id, pa.string()), n)
        ).append_column(
            "ingested_at",
            pa.repeat(pa.scalar(self.ingested_at, LAKE_SCHEMA.field("ingested_at").type), n),
        )
        name = f"part-{len(self.parts):05d}.parquet"
        ids = as_one_array(table.column("event_id"))
        self._ids.append(
            pa.table(
                {
                    "event_id": ids,
                    "part": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(n, dtype=np.int32)), pa.array([name])
                    ),
                    "pos": pa.array(np.arange(n, dtype=np.int64)),
                    "src": table.column(SOURCE),
                    "rn": table.column(ROW),
                    # What the commit needs to check corrections without reading rows back.
                    "supersedes": table.column("supersedes"),
                    "user_id": table.column("user_id"),
                    "type": pc.dictionary_encode(table.column("type")),
                }
            )
        )
        ascending, low_high = _order(ids, table.column(SOURCE), table.column(ROW))
        self._ascending.append(ascending)
        self._id_ranges.append(low_high)
        self.parts.append(name)
        self.staged += n
        self._wait()
        self._pending = self._writer.submit(self._write, name, events.cast(LAKE_SCHEMA))

    def _write(self, name: str, events: pa.Table) -> None:
        path = self.ready / name
        pq.write_table(events, path, **PARQUET_WRITE_OPTIONS)
        # Flushed now, while the next chunks are checked, so that the commit's own flush (the
        # one atomicity relies on) finds little left to write.
        with path.open("rb") as fh:
            os.fsync(fh.fileno())

    def _unique_in_batch(self) -> bool:
        """True when no id can appear twice in the batch: each part's ids strictly increase
        and no two parts' ranges overlap. False means: maybe, look."""
        if not all(self._ascending):
            return False
        ranges = sorted(self._id_ranges)
        return all(a[1] < b[0] for a, b in itertools.pairwise(ranges))

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _staged(self, folder: Path) -> str:
        files = _sql_list([folder / name for name in self.parts])
        return (
            f"(SELECT *, parse_filename(filename) AS part, file_row_number AS pos "
            f"FROM read_parquet({files}, filename = true, file_row_number = true))"
        )

    def commit(self, sources: list[str], *, strict: bool = False) -> CommitResult:
        """Drop repeats, refuse conflicts and dangling corrections, then publish the rest.

        A staged row is known by its part file and position. With ``strict``, any refused row
        raises `StrictIngestError` and nothing is published.
        """
        self._wait()
        if not self.parts:
            return self._result(0, 0, REJECTS_WITH_SOURCE.empty_table(), None)
        con = self.con
        lake_files = self.lake.files()
        lake = f"read_parquet({_sql_list(lake_files)})" if lake_files else None
        con.execute(f"CREATE TEMP VIEW incoming AS SELECT * FROM {self._staged(self.ready)}")
        # Input order (source file, then row) decides which of two rows came first: the
        # order rows were staged in follows how the engine happened to read them.
        con.register("staged_ids", pa.concat_tables(self._ids))
        con.execute(
            "CREATE TEMP VIEW ids AS SELECT event_id, part::VARCHAR AS part, pos, src, rn, "
            "supersedes, user_id, type::VARCHAR AS type FROM staged_ids"
        )
        con.execute(
            "CREATE TEMP TABLE repeats (part VARCHAR, pos BIGINT, same BOOLEAN, other VARCHAR)"
        )
        # A repeat is compared with the event it repeats by DuckDB's 64-bit hash of every
        # field of each, taken where the rows are read: the joins then carry a number per row,
        # not every field (MATERIALIZED keeps DuckDB from moving the hash after them). Ingesting
        # the benchmark's 9.48M events again peaks at 3.9 GB instead of 7.8; its files twice
        # in one batch, at 8.9 instead of 9.9. A change to one field never keeps the hash; an
        # accidental change to several keeps it with a chance of 2^-64; the hash is not
        # cryptographic, so a sender can craft a different event that keeps it. Such an event
        # is counted a duplicate instead of being refused: it is not stored, and nothing stored
        # changes, so nothing is gained by crafting one.
        content = "hash(" + ", ".join(f'x."{f.name}"' for f in FIELDS) + ")"
        # Repeats inside the batch: the first occurrence stands for the others.
        repeated = (
            "false"
            if self._unique_in_batch()
            else "event_id IN (SELECT event_id FROM ids GROUP BY event_id HAVING count(*) > 1)"
        )
        con.execute(
            f"""
            CREATE TEMP TABLE batch_pairs AS
            SELECT part, pos, event_id, n FROM (
                SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY src, rn) AS n
                FROM ids WHERE {repeated}
            )
            """
        )
        if _count(con, "batch_pairs"):
            con.execute(
                f"""
                INSERT INTO repeats
                WITH c AS MATERIALIZED (
                    SELECT x.part, x.pos, {content} AS content FROM incoming x
                    SEMI JOIN batch_pairs p ON x.part = p.part AND x.pos = p.pos
                )
                SELECT b.part, b.pos, ca.content = cb.content, 'batch'
                FROM batch_pairs b
                JOIN c cb ON cb.part = b.part AND cb.pos = b.pos
                JOIN batch_pairs a ON a.event_id = b.event_id AND a.n = 1
                JOIN c ca ON ca.part = a.part AND ca.pos = a.pos
                WHERE b.n > 1
                """
            )
        # Repeats of events already in the lake: only lake files whose ids could overlap the
        # batch's are read, and of those only the row groups in the batch's range.
        id_spans = _id_spans(lake_files)  # read once, for repeats and for corrections
        overlapping = _files_overlapping(id_spans, self._id_ranges)
        if overlapping:
            low = min(r[0] for r in self._id_ranges)
            high = max(r[1] for r in self._id_ranges)
            candidates = (
                f"(SELECT * FROM read_parquet({_sql_list(overlapping)}) "
                f"WHERE event_id BETWEEN {_sql_text(low)} AND {_sql_text(high)})"
            )
            con.execute(
                f"""
                CREATE TEMP TABLE lake_pairs AS
                SELECT i.part, i.pos, i.event_id FROM ids i
                SEMI JOIN (SELECT event_id FROM {candidates}) l USING (event_id)
                ANTI JOIN repeats r ON r.part = i.part AND r.pos = i.pos
                """
            )
            if _count(con, "lake_pairs"):
                con.execute(
                    f"""
                    INSERT INTO repeats
                    WITH b AS MATERIALIZED (
                        SELECT x.part, x.pos, x.event_id, {content} AS content FROM incoming x
                        SEMI JOIN lake_pairs p ON x.part = p.part AND x.pos = p.pos
                    ), a AS MATERIALIZED (
                        SELECT x.event_id, {content} AS content FROM {candidates} x
                        SEMI JOIN lake_pairs p ON x.event_id = p.event_id
                    )
                    SELECT b.part, b.pos, a.content = b.content, 'lake'
                    FROM b JOIN a ON a.event_id = b.event_id
                    """
                )
        # A correction must name an event of the same user and type that is already in the
        # lake or earlier in this batch, and that nothing corrected yet: records stay chains,
        # so each has exactly one current version at any date.
        con.execute(
            """
            CREATE TEMP TABLE corrections AS
            SELECT c.part, c.pos, c.src, c.rn, c.supersedes, c.user_id, c.type FROM ids c
            ANTI JOIN repeats r ON r.part = c.part AND r.pos = c.pos
            WHERE c.supersedes IS NOT NULL
            """
        )
        con.execute("CREATE TEMP TABLE dangling (part VARCHAR, pos BIGINT, why VARCHAR)")
        if _count(con, "corrections"):
            # The events corrections name: rows of this batch (the batch's ids probed against
            # the named ones, which DuckDB does on every core) and of the lake.
            targets = (
                "SELECT i.event_id, i.user_id, i.type, i.src, i.rn FROM ids i "
                "SEMI JOIN corrections k ON i.event_id = k.supersedes "
                "ANTI JOIN repeats r ON r.part = i.part AND r.pos = i.pos"
            )
            # Of the lake, only the files whose ids could be among the named ones are read.
            named = con.execute("SELECT min(supersedes), max(supersedes) FROM corrections")
            named_files = _files_overlapping(id_spans, [named.fetchall()[0]])
            if named_files:
                targets += (
                    " UNION ALL SELECT event_id, user_id, type, NULL, NULL "
                    f"FROM read_parquet({_sql_list(named_files)}) "
                    "WHERE event_id IN (SELECT supersedes FROM corrections)"
                )
            earlier = "(t.src IS NULL OR t.src < c.src OR (t.src = c.src AND t.rn < c.rn))"
            con.execute(
                f"""
                INSERT INTO dangling
                SELECT c.part, c.pos, 'missing' FROM corrections c
                ANTI JOIN ({targets}) t
                  ON t.event_id = c.supersedes AND t.user_id = c.user_id AND t.type = c.type
                 AND {earlier}
                """
            )
            # The lake's corrections of the same events (its row groups' statistics of
            # supersedes let the scan skip the others).
            corrected = (
                f"SELECT supersedes FROM {lake} "
                "WHERE supersedes IN (SELECT supersedes FROM corrections)"
                if lake is not None
                else "SELECT NULL AS supersedes WHERE false"
            )
            con.execute(
                f"""
                INSERT INTO dangling
                SELECT part, pos, 'corrected' FROM (
                    SELECT c.*, row_number() OVER (
                        PARTITION BY c.supersedes ORDER BY c.src, c.rn) AS n
                    FROM corrections c
                ) c
                WHERE (n > 1 OR c.supersedes IN ({corrected}))
                  AND NOT EXISTS (
                      SELECT 1 FROM dangling d WHERE d.part = c.part AND d.pos = c.pos)
                """
            )
        rejects = self._rejects(sources)
        if strict and rejects.num_rows:
            first = rejects.slice(0, 1).to_pylist()[0]
            raise StrictIngestError(first["source"], first["row"], first["field"], first["reason"])
        duplicates = _count(con, "repeats WHERE same")
        dropped = "SELECT part, pos FROM repeats UNION ALL SELECT part, pos FROM dangling"
        accepted = self.staged - _count(con, f"({dropped})")
        if 0 < accepted < self.staged:
            self._drop_rows(dropped)
        path = self._publish(accepted, duplicates, sources) if accepted else None
        return self._result(accepted, duplicates, rejects, path)

    def _rejects(self, sources: list[str]) -> pa.Table:
        refused = """
            SELECT r.part, r.pos, 'event_id' AS field,
                   'already used by a different event' ||
                   CASE WHEN r.other = 'lake' THEN ' in the lake'
                        ELSE ' earlier in this batch' END AS why
            FROM repeats r WHERE NOT r.same
            UNION ALL
            SELECT part, pos, 'supersedes', why FROM dangling
        """
        if _count(self.con, f"({refused})") == 0:
            return REJECTS_WITH_SOURCE.empty_table()
        quote = "''''"
        table = self.con.sql(
            f"""
            WITH refused AS ({refused})
            SELECT s.{SOURCE} AS source, s.{ROW} AS row, f.field,
                   CASE WHEN f.field = 'event_id' THEN
                        f.why || '; to change an event, send a new one with supersedes = '
                        || {quote} || i.event_id || {quote}
                   WHEN f.why = 'corrected' THEN 'event ' || {quote} || i.supersedes || {quote}
                        || ' was already corrected; correct its latest version instead'
                   ELSE 'no earlier event ' || {quote} || i.supersedes || {quote}
                        || ' of this user and type in the lake or this batch' END AS reason,
                   i.event_id
            FROM refused f
            JOIN (SELECT part, pos, src AS {SOURCE}, rn AS {ROW} FROM ids) s
              ON s.part = f.part AND s.pos = f.pos
            JOIN incoming i ON i.part = f.part AND i.pos = f.pos
            ORDER BY source, row
            """
        ).to_arrow_table()
        names = pa.array([sources[i] for i in table.column("source").to_pylist()], pa.string())
        return table.set_column(0, "source", names).cast(REJECTS_WITH_SOURCE)

    def _drop_rows(self, dropped: str) -> None:
        """Rewrite the parts holding repeats or refused rows without them (the rare path)."""
        by_part: dict[str, list[int]] = {}
        for name, pos in self.con.execute(f"SELECT part, pos FROM ({dropped})").fetchall():
            by_part.setdefault(str(name), []).append(int(pos))
        for name, positions in by_part.items():
            path = self.ready / name
            table = pq.read_table(path)
            keep = np.ones(table.num_rows, dtype=bool)
            keep[positions] = False
            if keep.any():
                kept = table.filter(pa.array(keep))
                pq.write_table(kept, path, **PARQUET_WRITE_OPTIONS)
            else:
                path.unlink()

    def _publish(self, accepted: int, duplicates: int, sources: list[str]) -> Path:
        seq = self.lake._next_seq()
        manifest = {
            "batch_id": self.batch_id,
            "seq": seq,
            "ingested_at": self.ingested_at.isoformat(),
            "events": accepted,
            "duplicates": duplicates,
            "sources": sources,
            "schema": "pentascore.events/1",
            # Each file's lowest and highest event id, so that a later batch can tell which
            # files its ids could repeat without opening them (`_files_overlapping`).
            "event_ids": {
                name: list(span)
                for name, span in zip(self.parts, self._id_ranges, strict=True)
                if (self.ready / name).exists()
            },
        }
        (self.ready / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _fsync_tree(self.ready)
        self.lake.events_dir.mkdir(parents=True, exist_ok=True)
        path = self.lake.events_dir / f"batch-{seq:06d}-{self.batch_id}"
        os.rename(self.ready, path)  # the commit point: the batch appears whole or not at all
        _fsync_dir(self.lake.events_dir)
        return path

    def _result(
        self, accepted: int, duplicates: int, rejects: pa.Table, path: Path | None
    ) -> CommitResult:
        return CommitResult(
            batch_id=self.batch_id,
            accepted=accepted,
            duplicates=duplicates,
            rejects=rejects,
            path=path,
        )

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.con.close()


def _order(
    ids: pa.Array, sources: pa.ChunkedArray, rows: pa.ChunkedArray
) -> tuple[bool, tuple[str, str]]:
    """(ascending, (min, max)) of ``ids`` (at least one, none null). Ascending: whether they
    strictly increase in input order (by source, then row), as they do in a file whose ids are
    sequential; then none of them repeats."""
    if len(ids) < 2 or pc.all(pc.less(ids[:-1], ids[1:])).as_py():
        return True, (ids[0].as_py(), ids[-1].as_py())  # ascending as staged: ends are min, max
    low, high = (value.as_py() for value in pc.min_max(ids).values())
    # A parallel reader may have interleaved the rows: look again in input order.
    key = sources.to_numpy().astype(np.int64) << 40 | rows.to_numpy().astype(np.int64)
    ordered = ids.take(pa.array(np.argsort(key, kind="stable")))
    return bool(pc.all(pc.less(ordered[:-1], ordered[1:])).as_py()), (low, high)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _id_spans(files: list[Path]) -> dict[Path, list[tuple[str, str] | None]]:
    """The event ids each file could hold, as ranges: the one its batch's manifest records,
    else its row groups' statistics (None: a row group without them, which could hold any)."""
    recorded: dict[Path, dict[str, list[str]]] = {}
    spans: dict[Path, list[tuple[str, str] | None]] = {}
    for path in files:
        if path.parent not in recorded:
            recorded[path.parent] = _recorded_id_ranges(path.parent)
        span = recorded[path.parent].get(path.name)
        spans[path] = [(span[0], span[1])] if span is not None else _row_group_id_ranges(path)
    return spans


def _files_overlapping(
    spans: dict[Path, list[tuple[str, str] | None]], ranges: list[tuple[str, str]]
) -> list[Path]:
    """The files whose event ids could fall in one of ``ranges`` (``spans``: `_id_spans`)."""
    return [
        path
        for path, file_spans in spans.items()
        if any(s is None or any(not (b < s[0] or s[1] < a) for a, b in ranges) for s in file_spans)
    ]


def _recorded_id_ranges(batch_dir: Path) -> dict[str, list[str]]:
    """The (low, high) event id of each file of a batch, by name, as its manifest records them
    (batches published before manifests did: none)."""
    try:
        manifest = json.loads((batch_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    ranges = manifest.get("event_ids")
    return ranges if isinstance(ranges, dict) else {}


def _row_group_id_ranges(path: Path) -> list[tuple[str, str] | None]:
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.to_arrow_schema().get_field_index("event_id")
    spans: list[tuple[str, str] | None] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        spans.append((stats.min, stats.max) if stats is not None and stats.has_min_max else None)
    return spans


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


# Rejects as reported to people: the source is the file's name, not its index.
REJECTS_WITH_SOURCE: pa.Schema = pa.schema(
    [pa.field("source", pa.string()), *(f for f in REJECT_SCHEMA if f.name != "source")]
)
