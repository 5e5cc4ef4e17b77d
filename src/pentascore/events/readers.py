"""Stream event files (CSV, JSON lines, Parquet) as raw chunks numbered by row.

A raw chunk is an Arrow table with a ``_row`` column and the file's own columns, untouched:
text for CSV, text extracted from each JSON object for JSON lines, the stored types for Parquet.
`pentascore.events.validate` decides what is valid. Row numbers are what a person finds in the
file: the line number for CSV (the header is line 1, so data starts at 2; a value may not span
lines) and JSON lines, the 1-based row index for Parquet. Blank lines are skipped, not rejected.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from pentascore.core.errors import IngestError
from pentascore.events.schema import FIELDS
from pentascore.events.validate import NESTED_KEYS, PARSE_ERROR, ROW, SOURCE, UNKNOWN_KEYS

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DEFAULT_CHUNK_ROWS = 500_000
_KNOWN = tuple(f.name for f in FIELDS)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RawChunk:
    source: str
    table: pa.Table
    rejects: pa.Table | None = None  # rows the reader itself could not split into fields


def format_of(path: Path, forced: Format | None = None) -> Format:
    if forced is not None:
        return forced
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
    raise IngestError(
        f"{path}: cannot tell the format from the extension {''.join(suffixes) or '(none)'}; "
        "use .csv, .jsonl or .parquet, or pass --format."
    )


STDIN = Path("-")


def expand_paths(paths: list[Path], forced: Format | None = None) -> list[tuple[Path, Format]]:
    """Files to read, in a stable order: folders are walked for files of a known format.

    ``-`` is standard input, which must be JSON lines (``--format jsonl``)."""
    found: list[tuple[Path, Format]] = []
    for path in paths:
        if path == STDIN:
            if forced != "jsonl":
                raise IngestError("-: standard input is read as JSON lines; pass --format jsonl.")
            found.append((path, forced))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            matched = [p for p in files if forced is not None or _known_suffix(p)]
            if not matched:
                raise IngestError(f"{path}: folder has no .csv, .jsonl or .parquet files.")
            found.extend((p, format_of(p, forced)) for p in matched)
        elif path.is_file():
            found.append((path, format_of(path, forced)))
        else:
            raise IngestError(f"{path}: no such file or folder.")
    return found


def _known_suffix(path: Path) -> bool:
    return any(s.lower() in FORMATS for s in path.suffixes)


def read_chunks(
    path: Path,
    fmt: Format,
    con: duckdb.DuckDBPyConnection,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> Iterator[RawChunk]:
    """Raw chunks of one file; ``progress`` is told how many bytes each chunk covered."""
    if fmt == "parquet":
        yield from _parquet_chunks(path, chunk_rows, progress)
    elif fmt == "csv":
        # The CSV parser works in blocks of bytes; about 128 bytes make a simulated row.
        block = min(max(chunk_rows * 128, 1 << 16), 1 << 24)
        yield from _csv_chunks(path, block, progress)
    else:
        yield from _jsonl_chunks(path, con, chunk_rows, progress)


def _parquet_chunks(path: Path, chunk_rows: int, progress: Progress | None) -> Iterator[RawChunk]:
    try:
        # Buffering whole column chunks ahead costs more CPU than it saves on a local file.
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{path}: not a readable Parquet file ({exc}).") from exc
    if {ROW, SOURCE} & set(parquet.schema_arrow.names):
        raise IngestError(f"{path}: column names {ROW} and {SOURCE} are reserved.")
    size, rows = path.stat().st_size, parquet.metadata.num_rows
    next_row, reported = 1, 0
    try:
        for batch in parquet.iter_batches(batch_size=max(chunk_rows, 1), use_threads=True):
            n = batch.num_rows
            numbers = pa.array(np.arange(next_row, next_row + n, dtype=np.int64))
            next_row += n
            yield RawChunk(str(path), pa.Table.from_batches([batch]).add_column(0, ROW, numbers))
            if progress is not None and rows:
                step = size * (next_row - 1) // rows - reported
                progress(step)
                reported += step
    except (OSError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{path}: not a readable Parquet file ({exc}).") from exc
    if progress is not None and size > reported:
        progress(size - reported)


def _csv_chunks(path: Path, block: int, progress: Progress | None) -> Iterator[RawChunk]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return
    size = path.stat().st_size
    # Rows whose number of cells does not match the header are skipped by the parser; their
    # numbers are kept so that the rows after them keep their true numbers.
    broken: list[tuple[int, str]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        if row.number is None:  # the serial reader always knows it
            raise IngestError(f"{path}: a row has {row.actual_columns} cells; cannot locate it.")
        why = f"has {row.actual_columns} cells but the header has {row.expected_columns}"
        broken.append((row.number, why))
        return "skip"

    reader = pacsv.open_csv(
        path,
        # Serial reading is what makes the line numbers of skipped rows known.
        read_options=pacsv.ReadOptions(block_size=block, encoding="utf8", use_threads=False),
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=on_invalid_row, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    next_line, reported = 2, 0
    with reader:
        for batch in reader:
            n = batch.num_rows
            lines = _row_numbers(next_line, n, sorted(r for r, _ in broken))
            last = int(lines[-1]) if n else next_line - 1
            rejects = _broken_rejects([b for b in broken if b[0] < last]) if broken else None
            broken[:] = [b for b in broken if b[0] > last]
            next_line = last + 1
            table = pa.Table.from_batches([batch]).add_column(0, ROW, pa.array(lines))
            yield RawChunk(str(path), _without_blank_lines(table), rejects)
            if progress is not None:
                # Each batch is one parser block of the file, so a block's bytes is the advance.
                step = min(block, size - reported)
                progress(step)
                reported += step
        if broken:
            empty = pa.table({ROW: pa.array([], pa.int64())})
            yield RawChunk(str(path), empty, _broken_rejects(broken))
    if progress is not None and size > reported:
        progress(size - reported)


def _without_blank_lines(table: pa.Table) -> pa.Table:
    """Drop the rows of blank lines (every cell empty)."""
    blank = None
    for name in table.column_names[1:]:
        empty = pc.is_null(table.column(name))
        blank = empty if blank is None else pc.and_(blank, empty)
    return table if blank is None else table.filter(pc.invert(blank))


def _row_numbers(first: int, count: int, skipped: list[int]) -> np.ndarray:
    """``count`` consecutive row numbers from ``first`` that are not in ``skipped``."""
    candidates = np.arange(first, first + count + len(skipped), dtype=np.int64)
    keep = candidates[~np.isin(candidates, np.asarray(skipped, dtype=np.int64))]
    return keep[:count]


def _broken_rejects(rows: list[tuple[int, str]]) -> pa.Table:
    return pa.table(
        {
            "source": pa.array([0] * len(rows), pa.int32()),
            "row": pa.array([r for r, _ in rows], pa.int64()),
            "field": pa.array(["*"] * len(rows), pa.string()),
            "reason": pa.array([why for _, why in rows], pa.string()),
            "event_id": pa.nulls(len(rows), pa.string()),
        }
    )


# Each step only sees what the step before found parseable: DuckDB may evaluate every branch
# of a CASE, so invalid JSON must be turned into NULL before any JSON function sees it.
_JSON_SQL = f"""
WITH parsed AS (
    SELECT {ROW}, CASE WHEN coalesce(json_valid(line), false) THEN line END AS j FROM lines
), typed AS (
    SELECT {ROW}, j, json_type(j) AS jt FROM parsed
), objects AS (
    SELECT {ROW}, j, CASE WHEN jt = 'OBJECT' THEN j END AS o FROM typed
), extracted AS (
    SELECT {ROW}, j, o, json_keys(o) AS keys, json_extract(o, $paths) AS fragments,
           json_extract_string(o, $paths) AS _values
    FROM objects
)
SELECT {ROW},
       CASE WHEN j IS NULL THEN 'not valid JSON'
            WHEN o IS NULL THEN 'must be a JSON object, one per line' END AS {PARSE_ERROR},
       list_filter(keys, lambda k: NOT list_contains($known, k)) AS {UNKNOWN_KEYS},
       list_filter($known, lambda k, i: left(fragments[i]::VARCHAR, 1) IN ('{{', '['))
           AS {NESTED_KEYS},
       _values
FROM extracted
"""
# Each full parse of a line costs about as much as the rest of the check, so every field is
# taken in two passes (raw JSON fragments, to spot objects and lists, and text values), not
# one pass per field.


# The fast path: pyarrow's JSON reader with the explicit schema below, over a block of whole
# lines. It refuses (rather than coerces) anything the per-line parser would judge differently:
# a field of another JSON type, an unknown or repeated key, an object or a list, a number that is
# not a whole int64, bytes that are not UTF-8. A block it refuses is split in two and retried;
# what still fails goes line by line through `_JSON_SQL`, so every reject keeps its line.
_JSON_TYPES: dict[str, pa.DataType] = {"int": pa.int64(), "money": pa.int64(), "bool": pa.bool_()}
JSON_SCHEMA: pa.Schema = pa.schema(
    [pa.field(f.name, _JSON_TYPES.get(f.kind, pa.string())) for f in FIELDS]
)
_JSON_PARSE = pajson.ParseOptions(
    explicit_schema=JSON_SCHEMA, unexpected_field_behavior="error", newlines_in_values=False
)
# A blank line (what ``bytes.strip`` empties) is skipped by both parsers, but pyarrow does not
# say where, so a block with one is left to the per-line parser.
_BLANK_LINE = re.compile(rb"(?:\A|\n)[ \t\r\x0b\x0c]*(?:\n|\Z)")
_LINE_START_SPACES = np.frombuffer(b"\n \t\r\x0b\x0c", dtype=np.uint8)
_BOM = b"\xef\xbb\xbf"
_MIN_FAST_BYTES = 1 << 16  # below this a refused block goes straight to the per-line parser
_PIECES = 8  # a refused block is retried in this many pieces


def _may_have_blank_line(body: bytes) -> bool:
    """False when no line of ``body`` can be blank: none is empty or starts with whitespace
    (one vectorized pass, much faster than the regular expression over the whole block)."""
    data = np.frombuffer(body, dtype=np.uint8)
    starts = np.flatnonzero(data == 0x0A) + 1
    firsts = np.concatenate([data[:1], data[starts[starts < len(data)]]])
    return bool(np.isin(firsts, _LINE_START_SPACES).any()) or bool(len(data) and data[-1] == 0x0A)


def _json_fast(block: bytes, lines: int) -> pa.Table | None:
    """The rows of ``block`` (``lines`` whole lines, none blank) as typed columns, one per line,
    or None when pyarrow refuses the block or cannot vouch for one row per line."""
    if _BOM in block:  # pyarrow skips a byte-order mark; the per-line parser rejects the line
        return None
    try:  # pyarrow keeps bytes that are not UTF-8; the per-line parser replaces them
        block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = block[:-1] if block.endswith(b"\n") else block
    if not body or (_may_have_blank_line(body) and _BLANK_LINE.search(body)):
        return None
    try:
        table = pajson.read_json(
            io.BytesIO(block),
            read_options=pajson.ReadOptions(use_threads=True, block_size=1 << 22),
            parse_options=_JSON_PARSE,
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != lines:  # e.g. two objects on a line, a bare carriage return
        return None
    return table


def _jsonl_chunks(
    path: Path, con: duckdb.DuckDBPyConnection, chunk_rows: int, progress: Progress | None
) -> Iterator[RawChunk]:
    next_row = 1
    # Files are read in blocks of bytes (whole lines); a pipe line by line, so that what has
    # arrived is checked and staged without waiting for a whole block.
    block_bytes = min(max(chunk_rows * 128, 1 << 16), 1 << 25)
    with sys.stdin.buffer if path == STDIN else path.open("rb") as fh:
        while True:
            if path == STDIN:
                block = b"".join(itertools.islice(fh, chunk_rows))
            else:
                block = fh.read(block_bytes)
                if block and not block.endswith(b"\n"):
                    block += fh.readline()
            if not block:
                break
            lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            yield from _json_block(path, con, block, lines, next_row, chunk_rows)
            next_row += lines
            if progress is not None:
                progress(len(block))


def _json_block(
    path: Path,
    con: duckdb.DuckDBPyConnection,
    block: bytes,
    lines: int,
    first_row: int,
    chunk_rows: int,
) -> Iterator[RawChunk]:
    """Chunks of ``lines`` whole lines of JSON starting at line ``first_row``."""
    fast = _json_fast(block, lines)
    if fast is not None:
        numbers = pa.array(np.arange(first_row, first_row + lines, dtype=np.int64))
        yield RawChunk(str(path), fast.add_column(0, ROW, numbers))
        return
    if len(block) > _MIN_FAST_BYTES and lines > 1:
        # Try again in pieces cut at line boundaries: a few bad lines cost only their pieces.
        step, start = len(block) // _PIECES + 1, 0
        row = first_row
        while start < len(block):
            end = block.find(b"\n", start + step - 1)
            end = len(block) if end < 0 else end + 1
            piece = block[start:end]
            count = piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
            if end - start == len(block):  # one line longer than a piece: no progress
                break
            yield from _json_block(path, con, piece, count, row, chunk_rows)
            row += count
            start = end
        else:
            return
    texts = block.split(b"\n")
    if block.endswith(b"\n"):
        texts.pop()
    for start in range(0, len(texts), chunk_rows):
        part = texts[start : start + chunk_rows]
        yield RawChunk(str(path), _json_lines(con, part, first_row + start))


def _json_lines(con: duckdb.DuckDBPyConnection, lines: list[bytes], first_row: int) -> pa.Table:
    """The per-line parser: each line (without its newline) parsed on its own by DuckDB, so a
    line that is not a JSON object, or has unknown or nested keys, is reported by number."""
    paths = [f'$."{name}"' for name in _KNOWN]
    numbers = np.arange(first_row, first_row + len(lines), dtype=np.int64)
    texts = [line.rstrip(b"\r") for line in lines]
    blank = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
    keep = ~blank
    arrow_lines = _decode(np.asarray(texts, dtype=object)[keep])
    lines_table = pa.table({ROW: pa.array(numbers[keep]), "line": arrow_lines})
    con.register("lines", lines_table)
    try:
        parsed = con.sql(_JSON_SQL, params={"paths": paths, "known": list(_KNOWN)}).to_arrow_table()
    finally:
        con.unregister("lines")
    values = parsed.column("_values")
    columns = {name: parsed.column(name) for name in (ROW, PARSE_ERROR, UNKNOWN_KEYS, NESTED_KEYS)}
    for i, name in enumerate(_KNOWN):
        columns[name] = pc.list_element(values, i)
    return pa.table(columns)


def _decode(texts: np.ndarray) -> pa.Array:
    """Lines as an Arrow string array. Bytes that are not UTF-8 become U+FFFD, which the
    identifier checks then reject by field; text fields keep the replacement character."""
    try:
        return pa.array(list(texts), pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([t.decode("utf-8", errors="replace") for t in texts], pa.string())
