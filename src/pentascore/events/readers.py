"""Stream event files (CSV, JSON lines, Parquet) as raw chunks numbered by row.

A raw chunk is an Arrow table with a ``_row`` column and the file's own columns, untouched:
text for CSV, text extracted from each JSON object for JSON lines, the stored types for Parquet.
`pentascore.events.validate` decides what is valid. Row numbers are what a person finds in the
file: the line number for CSV (the header is line 1, so data starts at 2; a value may not span
lines) and JSON lines, the 1-based row index for Parquet. Blank lines are skipped, not rejected.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, TypeVar

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
_T = TypeVar("_T")
_R = TypeVar("_R")


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


_READ_THREADS = 2  # blocks of a file parsed at once


def _in_order(
    work: Callable[[_T], _R], items: Iterator[_T], threads: int = _READ_THREADS
) -> Generator[tuple[_T, _R], None, None]:
    """``(item, work(item))`` for each of ``items``, in their order, worked on by ``threads``
    threads at once (the parsers let go of the interpreter); leaving early cancels the rest."""
    with ThreadPoolExecutor(threads, thread_name_prefix="ingest-parse") as pool:
        pending: deque[tuple[_T, Future[_R]]] = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(work, item)))
                while pending and (len(pending) > threads or pending[0][1].done()):
                    first, done = pending.popleft()
                    yield first, done.result()
            while pending:
                first, done = pending.popleft()
                yield first, done.result()
        finally:
            for _, left in pending:
                left.cancel()


def _csv_options(
    header: list[str], on_invalid_row: Callable[[pacsv.InvalidRow], str]
) -> tuple[pacsv.ParseOptions, pacsv.ConvertOptions]:
    return (
        pacsv.ParseOptions(invalid_row_handler=on_invalid_row, ignore_empty_lines=False),
        pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )


def _csv_chunks(
    path: Path, block: int, progress: Progress | None, read_block: int | None = None
) -> Iterator[RawChunk]:
    """A CSV file in blocks of whole lines (of about ``read_block`` bytes, by default
    ``block``), parsed two at a time. Row numbers stay exact because each block is kept only
    when its records are exactly its lines (no quoted value spans a line); from the first block
    that is not so, the rest is read serially (in parser blocks of ``block`` bytes)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return
    start = _csv_data_start(path, header)
    if start is None:
        yield from _csv_serial(path, header, block, progress)
        return
    size = path.stat().st_size

    def blocks() -> Iterator[tuple[int, bytes]]:
        with path.open("rb") as fh:
            fh.seek(start)
            offset = start
            while data := fh.read(read_block or block):
                if not data.endswith(b"\n"):
                    data += fh.readline()
                yield offset, data
                offset += len(data)

    def parse(item: tuple[int, bytes]) -> tuple[pa.Table, list[tuple[int, str]]] | None:
        return _csv_block(item[1], header)

    next_line, reported = 2, start
    carried: list[tuple[int, str]] = []  # bad rows after the last good row of a block
    with contextlib.closing(_in_order(parse, blocks())) as parsed:
        for (offset, data), result in parsed:
            if result is None:
                yield from _csv_serial(path, header, block, None, (offset, next_line, carried))
                break
            table, broken = result
            found = carried + [(next_line - 1 + number, why) for number, why in broken]
            n = table.num_rows
            lines = _row_numbers(next_line, n, sorted(r for r, _ in found))
            # As the serial reader: bad rows before the last good one go with this chunk.
            last = int(lines[-1]) if n else next_line + len(broken)
            now = [b for b in found if b[0] < last]
            carried = [b for b in found if b[0] > last]
            rejects = _broken_rejects(now) if now else None
            next_line += n + len(broken)
            table = table.add_column(0, ROW, pa.array(lines))
            yield RawChunk(str(path), _without_blank_lines(table), rejects)
            if progress is not None:
                progress(offset + len(data) - reported)
                reported = offset + len(data)
        else:
            if carried:
                empty = pa.table({ROW: pa.array([], pa.int64())})
                yield RawChunk(str(path), empty, _broken_rejects(carried))
    if progress is not None and size > reported:
        progress(size - reported)


def _csv_data_start(path: Path, header: list[str]) -> int | None:
    """Where the data starts: the byte after the header's line, when the header is a plain
    line (no quotes, no lone carriage return, distinct names) that splits into ``header``."""
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.endswith(b"\n"):
        return None
    line = first[len(_BOM) :] if first.startswith(_BOM) else first
    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if b'"' in line or b"\r" in line or len(set(header)) != len(header):
        return None
    try:
        names = line.decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    return len(first) if names == header else None


def _csv_block(data: bytes, header: list[str]) -> tuple[pa.Table, list[tuple[int, str]]] | None:
    """The rows of ``data`` (whole lines of a CSV file, no header) and its rows that do not
    split into the header's cells, (number from 1 at the block's first line, why); or None
    when a record of the block may not be exactly one line (a quoted value spanning lines)."""
    broken: list[tuple[int, str]] = []
    lost = False

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        nonlocal lost
        if row.number is None:
            lost = True
        else:
            why = f"has {row.actual_columns} cells but the header has {row.expected_columns}"
            broken.append((row.number, why))
        return "skip"

    if data.count(b"\r") != data.count(b"\r\n"):
        return None  # a lone carriage return ends a record too: let the serial reader count
    # A last line of its own after the block's lines: if a quoted value were still open at the
    # end of the block, it would swallow this line too.
    sentinel = ",".join(["\x01"] * len(header)).encode() + b"\n"
    text = data + sentinel if data.endswith(b"\n") else data + b"\n" + sentinel
    parse, convert = _csv_options(header, on_invalid_row)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text),
            read_options=pacsv.ReadOptions(
                column_names=header, use_threads=False, block_size=len(text) + 1
            ),
            parse_options=parse,
            convert_options=convert,
        )
    except pa.ArrowInvalid:
        return None  # the serial reader says what is wrong
    # Each newline ends one record unless it is inside a quoted value, and every line now ends
    # in a newline: so when there are as many records as lines, every record is one line.
    lines = text.count(b"\n")
    if lost or table.num_rows + len(broken) != lines or not table.num_rows:
        return None
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    if any(value != "\x01" for value in last.values()):
        return None
    table = table.slice(0, table.num_rows - 1)
    return table, broken


def _csv_serial(
    path: Path,
    header: list[str],
    block: int,
    progress: Progress | None,
    resume: tuple[int, int, list[tuple[int, str]]] | None = None,
) -> Iterator[RawChunk]:
    """The whole file (or from ``resume``: byte offset, its line number, bad rows carried)
    with pyarrow's serial reader, which numbers skipped rows itself."""
    size = path.stat().st_size
    # Rows whose number of cells does not match the header are skipped by the parser; their
    # numbers are kept so that the rows after them keep their true numbers.
    broken: list[tuple[int, str]] = []
    offset, next_line = 0, 2
    if resume is not None:
        offset, next_line, carried = resume
        broken.extend(carried)

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        if row.number is None:  # the serial reader always knows it
            raise IngestError(f"{path}: a row has {row.actual_columns} cells; cannot locate it.")
        why = f"has {row.actual_columns} cells but the header has {row.expected_columns}"
        # Numbered from the header's line, or from the first line read when resuming.
        broken.append((row.number if resume is None else next_line0 - 1 + row.number, why))
        return "skip"

    next_line0 = next_line
    parse, convert = _csv_options(header, on_invalid_row)
    with contextlib.ExitStack() as stack:
        source: Path | IO[bytes] = path
        if resume is not None:
            source = stack.enter_context(path.open("rb"))
            source.seek(offset)
        reader = pacsv.open_csv(
            source,
            # Serial reading is what makes the line numbers of skipped rows known.
            read_options=pacsv.ReadOptions(
                block_size=block,
                encoding="utf8",
                use_threads=False,
                column_names=header if resume is not None else None,
            ),
            parse_options=parse,
            convert_options=convert,
        )
        reported = 0
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


# The fastest path, for the plain JSON lines that nearly every producer writes: one flat object
# per line, keys and text values without escapes, whole numbers, true, false and null, spaces
# only around the punctuation. It is decided in numpy over the whole block, with no JSON parser:
# the quotes cut the block into alternating gaps and strings, each gap is classified ("{", ":",
# ",", "}\n{", or a literal value with what follows it), and the kinds must follow the grammar
# of a flat object per line. Whatever it does not recognise (an escape, a tab, a nested value,
# a number with a fraction, an unknown or repeated key, a value of another JSON type than the
# schema's) makes it give the block to pyarrow's reader, so what it returns is what that
# reader would: a test checks both agree on generated blocks.
_GAP_RE = (
    r"^ *(?P<colon>:)? *(?P<lit>-?(?:0|[1-9][0-9]{0,17})|true|false|null)? *(?P<close>\})?"
    r" *(?P<nl>\n)? *(?P<open>\{)? *(?P<comma>,)? *$"
)
_GAP_PARTS = ("colon", "lit", "close", "nl", "open", "comma")
_COLON, _LIT, _CLOSE, _NL, _OPEN, _COMMA = (1 << i for i in range(6))
_G_OPEN = _OPEN  # "{" before the first key of the block
_G_VALUE = _COLON  # ":" between a key and its text value
_G_NEXT = _COMMA  # "," between a text value and the next key
_G_LINE = _CLOSE | _NL | _OPEN  # "}\n{" between a text value and the next line's first key
_G_LIT_NEXT = _COLON | _LIT | _COMMA  # ": 5," a literal, then the next key
_G_LIT_LINE = _COLON | _LIT | _CLOSE | _NL | _OPEN  # ": 5}\n{" a literal, then the next line
_G_END = (_CLOSE, _CLOSE | _NL)  # after the last text value of the block
_G_LIT_END = (_COLON | _LIT | _CLOSE, _COLON | _LIT | _CLOSE | _NL)  # after the last literal
_JSON_NAMES = pa.array(JSON_SCHEMA.names, pa.string())
_TEXT, _NUMBER, _BOOL = 0, 1, 2
_JSON_KINDS = np.array(
    [
        _TEXT if t == pa.string() else _NUMBER if t == pa.int64() else _BOOL
        for t in JSON_SCHEMA.types
    ],
    dtype=np.uint8,
)
# Literal values: a whole number of at most 18 digits, true, false, null.
_L_NUMBER, _L_TRUE, _L_FALSE, _L_NULL = 1, 2, 3, 4
_L_WORDS = {b"true": _L_TRUE, b"false": _L_FALSE, b"null": _L_NULL}
_L_WIDTH = 19  # "-" and 18 digits
_PAD = 24  # zero bytes after the block, so that reading a little past a gap is safe


def _nullable(values: np.ndarray, missing: np.ndarray, typ: pa.DataType) -> pa.Array:
    """``values`` (int64 or bool) as an Arrow array of ``typ``, null where ``missing``."""
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    if typ == pa.bool_():
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
    else:
        data = pa.py_buffer(np.ascontiguousarray(values, dtype=np.int64))
    return pa.Array.from_buffers(typ, len(values), [validity, data])


def _literals(
    padded: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(kind, value) of the literals at ``padded[starts:ends]``: kind 0 when not one."""
    n = len(starts)
    length = ends - starts
    kind = np.zeros(n, dtype=np.uint8)
    value = np.zeros(n, dtype=np.int64)
    fits = (length >= 1) & (length <= _L_WIDTH)
    if not n or not fits.any():
        return kind, value
    length = np.where(fits, length, 0)
    width = int(length.max())
    # Byte j of every literal in row j: each step below reads one contiguous row.
    matrix = padded[np.arange(width)[:, None] + np.where(fits, starts, 0)]
    first = matrix[0]
    for word, code in _L_WORDS.items():
        maybe = np.flatnonzero((length == len(word)) & (first == word[0]))
        if len(maybe):
            pattern = np.frombuffer(word, np.uint8)[:, None]
            kind[maybe[(matrix[: len(word), maybe] == pattern).all(axis=0)]] = code
    negative = first == ord("-")
    digits = matrix - np.uint8(48)
    lead = np.where(negative, digits[min(1, width - 1)], first - np.uint8(48))
    # A number has a digit, and no leading zero (007) unless it is 0 itself.
    number = fits & (length > negative) & ((lead != 0) | (length - negative == 1))
    digits[0, negative] = 0  # the sign counts as a leading zero
    total = np.zeros(n, dtype=np.int64)
    for j in range(width):
        used = j < length
        number &= (digits[j] <= 9) | ~used
        total = np.where(used, total * 10 + digits[j], total)
    kind[number] = _L_NUMBER
    value[number] = np.where(negative, -total, total)[number]
    return kind, value


def _json_plain(block: bytes, lines: int) -> pa.Table | None:
    """The rows of ``block`` (``lines`` whole lines, valid UTF-8, none blank) as pyarrow's
    reader with `JSON_SCHEMA` would give them, or None when the block is not plain JSON lines."""
    if b"\\" in block:
        return None
    size = len(block)
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = lines if block.endswith(b"\n") else lines - 1
    if np.count_nonzero(data < 32) != newlines:  # a tab, a carriage return, ...
        return None
    quotes = np.flatnonzero(data == 0x22)
    strings = len(quotes) // 2
    if strings == 0 or len(quotes) % 2:
        return None
    # Gap k runs from the end of string k-1 (or the block's start) to the start of string k.
    starts = np.empty(strings + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = quotes[1::2] + 1
    ends = np.empty(strings + 1, dtype=np.int64)
    ends[:-1] = quotes[0::2]
    ends[-1] = size
    length = ends - starts
    padded = np.concatenate([data, np.zeros(_PAD, dtype=np.uint8)])
    b0, b1, b2 = padded[starts], padded[starts + 1], padded[starts + 2]
    kind = np.zeros(strings + 1, dtype=np.uint8)
    short = (length == 1) | ((length == 2) & (b1 == 0x20))
    kind[short & (b0 == 0x3A)] = _G_VALUE
    kind[short & (b0 == 0x2C)] = _G_NEXT
    kind[(length == 3) & (b0 == 0x7D) & (b1 == 0x0A) & (b2 == 0x7B)] = _G_LINE
    if length[0] == 1 and b0[0] == 0x7B:
        kind[0] = _G_OPEN
    if length[-1] == 1 and b0[-1] == 0x7D:
        kind[-1] = _CLOSE
    elif length[-1] == 2 and b0[-1] == 0x7D and b1[-1] == 0x0A:
        kind[-1] = _CLOSE | _NL
    # Literals, as ":5," or ": 5, " before the next key, ":5}\n{" before the next line.
    lit_kind = np.zeros(strings + 1, dtype=np.uint8)
    lit_value = np.zeros(strings + 1, dtype=np.int64)
    other = np.flatnonzero((kind == 0) & (b0 == 0x3A))
    if len(other):
        s, e = starts[other], ends[other]
        s = s + 1 + (padded[s + 1] == 0x20)
        e1, e2, e3 = padded[e - 1], padded[e - 2], padded[e - 3]
        comma = (e1 == 0x2C) | ((e1 == 0x20) & (e2 == 0x2C))
        line = (e3 == 0x7D) & (e2 == 0x0A) & (e1 == 0x7B)
        e = np.where(comma, e - 1 - (e1 == 0x20), e - 3)
        found, number = _literals(padded, s, e)
        hit = (found > 0) & (comma | line)
        kind[other[hit & comma]] = _G_LIT_NEXT
        kind[other[hit & ~comma]] = _G_LIT_LINE
        lit_kind[other[hit]] = found[hit]
        lit_value[other[hit]] = number[hit]
    # Every piece of the block, zero-copy: piece 4k is gap k, piece 4k+2 the text of string k.
    offsets = np.empty(2 * len(quotes) + 2, dtype=np.int32)
    offsets[0], offsets[-1] = 0, size
    offsets[1:-1:2] = quotes
    offsets[2:-1:2] = quotes + 1
    pieces = pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(block)
    )
    other = np.flatnonzero(kind == 0)
    if len(other):  # anything else, spaces included: by regular expression
        parts = pc.extract_regex(pc.take(pieces, pa.array(4 * other), boundscheck=False), _GAP_RE)
        if parts.null_count:
            return None
        code = np.zeros(len(other), dtype=np.uint8)
        for i, name in enumerate(_GAP_PARTS):
            found_part = pc.not_equal(parts.field(name), "").to_numpy(zero_copy_only=False)
            code |= np.where(found_part, np.uint8(1 << i), np.uint8(0))
        kind[other] = code
        words = parts.field("lit")
        for word, word_code in _L_WORDS.items():
            lit_kind[other[pc.equal(words, word.decode()).to_numpy(zero_copy_only=False)]] = (
                word_code
            )
        numeric = np.flatnonzero(
            pc.match_substring_regex(words, "^-?[0-9]").to_numpy(zero_copy_only=False)
        )
        if len(numeric):
            lit_kind[other[numeric]] = _L_NUMBER
            lit_value[other[numeric]] = words.take(pa.array(numeric)).cast(pa.int64()).to_numpy()
    # The grammar: each gap's kind, and the role (key or text value) of the string before it.
    if kind[0] != _G_OPEN or (kind[1:] == _G_OPEN).any():
        return None
    value = kind[:-1] == _G_VALUE  # string k is a text value
    inner = kind[1:-1]
    after_value = value[:-1]
    ok = np.where(
        inner == _G_VALUE,
        ~after_value,
        np.where(
            (inner == _G_NEXT) | (inner == _G_LINE),
            after_value,
            ((inner == _G_LIT_NEXT) | (inner == _G_LIT_LINE)) & ~after_value,
        ),
    )
    if not ok.all():
        return None
    last = int(kind[-1])
    if not ((last in _G_END and value[-1]) or (last in _G_LIT_END and not value[-1])):
        return None
    line_break = (kind == _G_LINE) | (kind == _G_LIT_LINE)
    breaks = int(np.count_nonzero(line_break))
    if breaks + 1 != lines or breaks + bool(last & _NL) != newlines:
        return None  # a newline inside a string, or a line of no object
    # Keys, by field, and the row of each.
    keys = np.flatnonzero(~value)
    field = pc.index_in(
        pc.take(pieces, pa.array(4 * keys + 2), boundscheck=False), value_set=_JSON_NAMES
    )
    if field.null_count:
        return None  # an unknown key (or an empty one)
    fields = field.to_numpy().astype(np.uint8)
    rows = np.cumsum(line_break)[keys]
    if np.bincount(rows * len(_JSON_KINDS) + fields).max() > 1:
        return None  # a key repeated within an object
    text = value[np.minimum(keys + 1, strings - 1)] & (keys + 1 < strings)
    kinds = _JSON_KINDS[fields]
    if (text & (kinds != _TEXT)).any():
        return None  # text for a number or a boolean
    lit = lit_kind[keys + 1]
    if ((kinds == _TEXT) & ~text & (lit != _L_NULL)).any():
        return None  # a number or a boolean for text
    if ((kinds == _NUMBER) & ((lit == _L_TRUE) | (lit == _L_FALSE))).any():
        return None
    if ((kinds == _BOOL) & (lit == _L_NUMBER)).any():
        return None
    # The text values in the order of the block: one pass over it (taking them field after
    # field straight from the block, a pass per field, cost twice as much).
    in_block = pc.take(pieces, pa.array(4 * (keys[text] + 1) + 2), boundscheck=False)
    rank = np.cumsum(text) - 1  # where each key's text value is in ``in_block``
    # The keys grouped by field, in row order within each: field i is keys[bounds[i]:...].
    order = np.argsort(fields, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(fields, minlength=len(_JSON_KINDS)))])
    keys, rows, text, lit, rank = keys[order], rows[order], text[order], lit[order], rank[order]
    # Every text field in one array, field after field, each of ``lines`` rows: the values
    # taken in that order from ``in_block``, then offsets that leave the rows without a value
    # empty.
    slot = np.cumsum(_JSON_KINDS == _TEXT) - 1
    texts = np.flatnonzero(text)
    values = pc.take(in_block, pa.array(rank[texts]), boundscheck=False)
    at = slot[fields[order][texts]] * lines + rows[texts]
    sizes = np.zeros(int(slot[-1] + 1) * lines + 1, dtype=np.int32)
    sizes[at + 1] = np.diff(np.frombuffer(values.buffers()[1], dtype=np.int32)[: len(values) + 1])
    present = np.zeros(len(sizes) - 1, dtype=bool)
    present[at] = True
    every_text = pa.StringArray.from_buffers(
        len(present),
        pa.py_buffer(np.cumsum(sizes, dtype=np.int32)),
        values.buffers()[2],
        pa.py_buffer(np.packbits(present, bitorder="little")),
    )
    columns = []
    for i, typ in enumerate(JSON_SCHEMA.types):
        low, high = int(bounds[i]), int(bounds[i + 1])
        if _JSON_KINDS[i] == _TEXT:
            columns.append(every_text.slice(int(slot[i]) * lines, lines))
            continue
        if high == low:
            columns.append(pa.nulls(lines, typ))
            continue
        where = rows[low:high]
        null = lit[low:high] == _L_NULL
        missing = np.ones(lines, dtype=bool)
        missing[where[~null]] = False
        if _JSON_KINDS[i] == _NUMBER:
            numbers = np.zeros(lines, dtype=np.int64)
            numbers[where] = lit_value[keys[low:high] + 1]
            columns.append(_nullable(numbers, missing, typ))
        else:
            truth = np.zeros(lines, dtype=bool)
            truth[where] = lit[low:high] == _L_TRUE
            columns.append(_nullable(truth, missing, typ))
    return pa.Table.from_arrays(columns, schema=JSON_SCHEMA)


_PLAIN_PIECE = 1 << 21  # bytes: a piece that stays in the caches parses faster


def _json_plain_pieces(block: bytes, lines: int) -> pa.Table | None:
    """`_json_plain` of ``block`` in pieces of whole lines, as one table (None if a piece is
    not plain)."""
    if len(block) <= 2 * _PLAIN_PIECE:
        return _json_plain(block, lines)
    # Cut after the first newline past every _PLAIN_PIECE bytes.
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A)
    cuts = np.unique(np.searchsorted(newlines, np.arange(_PLAIN_PIECE, len(block), _PLAIN_PIECE)))
    ends = [int(newlines[i]) + 1 for i in cuts if i < len(newlines)]
    if not ends or ends[-1] < len(block):
        ends.append(len(block))
    tables, start, done = [], 0, 0
    for end in ends:
        piece = block[start:end]
        count = int(np.searchsorted(newlines, end)) - done
        count += 0 if piece.endswith(b"\n") else 1
        table = _json_plain(piece, count)
        if table is None:
            return None
        tables.append(table)
        start, done = end, done + count
    return pa.concat_tables(tables).combine_chunks()


def _json_fast(block: bytes, lines: int) -> pa.Table | None:
    """The rows of ``block`` (``lines`` whole lines, none blank) as typed columns, one per line,
    or None when pyarrow refuses the block or cannot vouch for one row per line."""
    if np.frombuffer(block, dtype=np.uint8).max(initial=0) >= 0x80:  # not plain ASCII
        if _BOM in block:  # pyarrow skips a byte-order mark; the per-line parser rejects it
            return None
        try:  # pyarrow keeps bytes that are not UTF-8; the per-line parser replaces them
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    plain = _json_plain_pieces(block, lines)  # refuses blank lines itself
    if plain is not None:
        return plain
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
    # Files are read in blocks of bytes (whole lines), two parsed at once; a pipe line by line,
    # one block at a time, so that what has arrived is checked and staged without waiting for
    # a whole block.
    def parse(block: bytes) -> tuple[int, pa.Table | None]:
        lines = _count_lines(block)
        return lines, _json_fast(block, lines)

    if path == STDIN:
        parsed: Generator[tuple[bytes, tuple[int, pa.Table | None]], None, None] = (
            (block, parse(block)) for block in _stdin_blocks(chunk_rows)
        )
    else:
        block_bytes = min(max(chunk_rows * 128, 1 << 16), 1 << 24)
        parsed = _in_order(parse, _file_blocks(path, block_bytes))
    next_row = 1
    with contextlib.closing(parsed):
        for block, (lines, fast) in parsed:
            yield from _json_block(path, con, block, lines, next_row, chunk_rows, fast)
            next_row += lines
            if progress is not None:
                progress(len(block))


def _count_lines(block: bytes) -> int:
    # numpy lets go of the interpreter while it counts (bytes.count does not).
    newlines = int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A))
    return newlines + (0 if block.endswith(b"\n") else 1)


def _stdin_blocks(chunk_rows: int) -> Iterator[bytes]:
    with sys.stdin.buffer as fh:
        while block := b"".join(itertools.islice(fh, chunk_rows)):
            yield block


def _file_blocks(path: Path, size: int) -> Iterator[bytes]:
    """``path`` in blocks of about ``size`` bytes, each of whole lines."""
    with path.open("rb") as fh:
        while block := fh.read(size):
            if not block.endswith(b"\n"):
                block += fh.readline()
            yield block


_NOT_TRIED = pa.table({})


def _json_block(
    path: Path,
    con: duckdb.DuckDBPyConnection,
    block: bytes,
    lines: int,
    first_row: int,
    chunk_rows: int,
    fast: pa.Table | None = _NOT_TRIED,
) -> Iterator[RawChunk]:
    """Chunks of ``lines`` whole lines of JSON starting at line ``first_row`` (``fast``: what
    `_json_fast` made of the block, when that was tried already)."""
    if fast is _NOT_TRIED:
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
