"""Ingest: files (or an in-memory batch) -> checked, pseudonymized rows -> one lake batch.

Each call is one batch: it lands whole or not at all. Bad rows never stop good ones; each
goes to a rejects file (JSON lines: source, row, field, reason, event_id) under the home's
``rejects/`` folder. With ``strict``, the first bad row rejects the whole batch instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import secrets
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa

from pentascore.core.clock import Clock
from pentascore.core.duck import ThreadCursors
from pentascore.core.errors import StrictIngestError
from pentascore.events.pseudonym import Pseudonymizer
from pentascore.events.readers import (
    DEFAULT_CHUNK_ROWS,
    STDIN,
    Format,
    RawChunk,
    expand_paths,
    read_chunks,
)
from pentascore.events.validate import ROW, SOURCE, check_chunk
from pentascore.lake.store import ParquetLake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    batch_id: str
    accepted: int
    duplicates: int
    rejected: int
    rejects_file: Path | None
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "batch_id": self.batch_id,
            "sources": self.sources,
        }


class _Rejects:
    """Writes rejects as they are found; counts rejected rows (a row may have many problems).

    Rejects arrive as tables of (source, row, field, reason, event_id), where source is a file
    name or, straight from the checks, an index into ``sources``.
    """

    def __init__(self, path: Path, strict: bool, sources: list[str]) -> None:
        self.path = path
        self.strict = strict
        self.sources = sources
        self.rows: set[tuple[str, int]] = set()
        self._fh: IO[str] | None = None

    def add(self, rejects: pa.Table) -> None:
        if rejects.num_rows == 0:
            return
        records = rejects.to_pylist()
        for record in records:
            if isinstance(record["source"], int):
                record["source"] = self.sources[record["source"]]
        if self.strict:
            first = min(records, key=lambda r: (self.sources.index(r["source"]), r["row"]))
            raise StrictIngestError(first["source"], first["row"], first["field"], first["reason"])
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w")
        for record in records:
            self.rows.add((record["source"], record["row"]))
            self._fh.write(json.dumps(record) + "\n")

    def close(self) -> Path | None:
        if self._fh is None:
            return None
        self._fh.close()
        return self.path


def new_batch_id(clock: Clock) -> str:
    return f"{clock.now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


class _Coalescer:
    """Gathers raw chunks (across files of one schema) into chunks of about ``rows`` rows:
    every check query has a fixed cost, so many small files are checked together."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.tables: list[pa.Table] = []
        self.count = 0

    def add(self, table: pa.Table) -> pa.Table | None:
        """Add ``table``; returns a full chunk when one is ready."""
        ready = None
        if self.tables and table.schema != self.tables[0].schema:
            ready = self.flush()
        self.tables.append(table)
        self.count += table.num_rows
        if self.count >= self.rows and ready is None:
            ready = self.flush()
        return ready

    def flush(self) -> pa.Table | None:
        if not self.tables:
            return None
        table = pa.concat_tables(self.tables)  # the checks join each column once
        self.tables, self.count = [], 0
        return table


@dataclass(frozen=True)
class _Checked:
    valid: pa.Table  # checked rows, identifiers pseudonymized
    rejects: pa.Table
    rows: int  # rows of the raw chunk


class _Workers:
    """Checks, pseudonymizes and stages chunks on two threads, staging them in input order.

    Nearly all of the work is in numpy, Arrow compute and DuckDB, which let go of the
    interpreter, so two chunks are checked at once on two cores (hashing new identifiers holds
    it, about a microsecond a value). Each thread has a cursor of its own on ``con``, for the
    checks and the pseudonymizer's fingerprints; the pseudonymizer's memory of what it has
    hashed is shared. A chunk is staged (``stage``) by its thread as soon as it and every chunk
    before it are done; a chunk whose predecessor failed is not staged. The first failure is
    raised to the caller, by `submit` or `drain`.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        key: bytes | None,
        stage: Callable[[_Checked], None],
        threads: int = 2,
    ) -> None:
        self._stage = stage
        self._cursors = ThreadCursors(con)
        self._pseudonyms = Pseudonymizer(key, self._cursors) if key is not None else None
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="ingest-check")
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._cursors.close()

    def _run(self, table: pa.Table, previous: Future[None] | None) -> None:
        cursor = self._cursors.get()
        checked = check_chunk(cursor, table)
        valid = checked.valid
        if self._pseudonyms is not None:
            valid = self._pseudonyms.table(valid)
        if previous is not None:
            previous.result()  # staged in input order; raises if the chunk before failed
        self._stage(_Checked(valid, checked.rejects, table.num_rows))

    def submit(self, table: pa.Table | None) -> None:
        """Start on ``table`` (if any), raising the first failure of the chunks done so far;
        waits while more than one chunk per thread is under way."""
        if table is None:
            return
        previous = self._pending[-1] if self._pending else None
        self._pending.append(self._pool.submit(self._run, table, previous))
        while self._pending and (len(self._pending) > self._threads or self._pending[0].done()):
            self._pending.popleft().result()

    def drain(self) -> None:
        """Wait for every chunk started, raising the first failure."""
        while self._pending:
            self._pending.popleft().result()


def ingest_chunks(
    chunks: Iterable[RawChunk],
    *,
    lake: ParquetLake,
    key: bytes | None,
    rejects_dir: Path,
    clock: Clock,
    strict: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> IngestReport:
    """Check, pseudonymize and stage every chunk, then commit them as one batch.

    ``key`` None means the identifiers are pseudonyms already: pentascore's own records (the
    service's inquiries) that never held a platform identifier.
    """
    batch_id = new_batch_id(clock)
    sources: list[str] = []
    rejects = _Rejects(rejects_dir / f"{batch_id}.jsonl", strict, sources)
    gathered = _Coalescer(chunk_rows)
    staged = 0
    try:
        with (
            lake.batch(batch_id, clock.now()) as writer,
            # The checks run on cursors of the batch's own DuckDB database, not a second one:
            # opening a database costs about 20 ms, which a one-event batch would feel.
            writer.con.cursor() as con,
            contextlib.ExitStack() as stack,
        ):

            def stage_checked(checked: _Checked) -> None:
                nonlocal staged
                rejects.add(checked.rejects)
                writer.stage_rows(checked.valid)
                staged += 1
                log.info("staged chunk %d: %d rows", staged, checked.rows)

            workers = stack.enter_context(_Workers(con, key, stage_checked))
            stage = workers.submit

            for chunk in chunks:
                if chunk.source not in sources:
                    sources.append(chunk.source)
                index = sources.index(chunk.source)
                if chunk.rejects is not None:
                    # In order: every reject of an earlier chunk is reported first.
                    workers.drain()
                    rejects.add(
                        chunk.rejects.set_column(
                            0,
                            "source",
                            pa.repeat(pa.scalar(index, pa.int32()), chunk.rejects.num_rows),
                        )
                    )
                if chunk.table.num_rows:
                    sourced = chunk.table.add_column(
                        0, SOURCE, pa.repeat(pa.scalar(index, pa.int32()), chunk.table.num_rows)
                    )
                    stage(gathered.add(sourced))
            stage(gathered.flush())
            workers.drain()
            log.info("committing batch %s", batch_id)
            result = writer.commit(sources, strict=strict)
            rejects.add(result.rejects)
    finally:
        rejects_file = rejects.close()
    return IngestReport(
        batch_id=batch_id,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=len(rejects.rows),
        rejects_file=rejects_file,
        sources=sources,
    )


def ingest_files(
    paths: list[Path],
    *,
    lake: ParquetLake,
    key: bytes,
    rejects_dir: Path,
    clock: Clock,
    fmt: Format | None = None,
    strict: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest files or folders of CSV, JSON lines or Parquet as one batch."""
    files = expand_paths(paths, fmt)

    def chunks() -> Iterator[RawChunk]:
        with duckdb.connect() as con:
            for path, file_format in files:
                yield from read_chunks(path, file_format, con, chunk_rows, progress)

    ahead = read_ahead(chunks())
    try:
        return ingest_chunks(
            ahead,
            lake=lake,
            key=key,
            rejects_dir=rejects_dir,
            clock=clock,
            strict=strict,
            chunk_rows=chunk_rows,
        )
    finally:
        ahead.close()  # stops the reader at once, even when the batch failed


_DONE = object()


def read_ahead(chunks: Iterator[RawChunk], depth: int = 1) -> Generator[RawChunk, None, None]:
    """The chunks of ``chunks``, read by a thread of their own up to ``depth`` chunks ahead.

    The parsers (pyarrow's CSV, JSON and Parquet readers) let go of the interpreter while they
    work, so reading the next chunk overlaps checking, hashing and staging this one. The order
    of the chunks, and so every row number, is exactly that of ``chunks``; an error while
    reading is raised here, where the chunk would have been; leaving early stops the reader.
    """
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_DONE, exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    reader.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            assert isinstance(item, RawChunk)
            yield item
    finally:
        stop.set()
        reader.join()


def input_bytes(paths: list[Path], fmt: Format | None = None) -> int | None:
    """Total size of what `ingest_files` will read, for a progress bar (None: unknown)."""
    files = expand_paths(paths, fmt)
    if any(path == STDIN for path, _ in files):
        return None
    return sum(path.stat().st_size for path, _ in files)


def records_chunk(records: list[dict[str, Any]], source: str) -> RawChunk:
    """An in-memory batch (e.g. an HTTP body) as a raw chunk, every value as text or null, so
    it goes through exactly the checks of a CSV file."""
    names: list[str] = []
    for record in records:
        for name in record:
            if name not in names:
                names.append(name)
    columns: dict[str, pa.Array] = {ROW: pa.array(range(1, len(records) + 1), pa.int64())}
    for name in names:
        columns[name] = pa.array([_as_text(record.get(name)) for record in records], pa.string())
    return RawChunk(source, pa.table(columns))


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
