"""The fast valid/invalid decision, in numpy and Arrow compute, for the rows that are plainly good.

`pentascore.events.validate` checks a chunk with one DuckDB query and explains every bad row.
That query is exact but costs several CPU-seconds per million rows, nearly all of it spent on
rows that are fine. This module decides, directly on a chunk's Arrow columns, which rows are
*certainly* valid under the same rules, and converts those rows exactly as the query would.
It is conservative: a row is passed only when every field is in a form it recognises (an
identifier of the allowed bytes, a whole number of plain digits or an integer column, a
timestamp like ``2026-03-05 09:30:00[.ffffff](Z|+HH|+HHMM|+HH:MM)`` or a timezone-aware column,
...). Every other row, bad or merely unusual, goes to the query, which decides it and, if it is
bad, says why. So the query remains the one definition of what is valid; a test checks on
generated rows that both agree on every row this module passes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pentascore.core.arrow import as_one_array
from pentascore.events.schema import (
    COMMON_REQUIRED,
    CURRENCIES,
    EVENT_TYPES,
    FIELD_BY_NAME,
    FIELDS,
    ID_MAX_LENGTH,
    MONEY_FIELDS,
    TEXT_MAX_LENGTH,
    EventType,
)

_TEXT_TYPES = (pa.string(), pa.large_string())
_TYPES = tuple(t.value for t in EVENT_TYPES)
_TYPE_SET = pa.array(_TYPES, pa.string())
_SHIFT = {f.name: i for i, f in enumerate(FIELDS)}
_BITS = {name: np.int64(1) << np.int64(i) for name, i in _SHIFT.items()}
_ALLOWED = np.array(
    [sum(int(_BITS[n]) for n in set(s.fields)) for s in EVENT_TYPES.values()], dtype=np.int64
)
_REQUIRED = np.array(
    [sum(int(_BITS[n]) for n in set(s.required)) for s in EVENT_TYPES.values()], dtype=np.int64
)
_COMMON = np.int64(sum(int(_BITS[n]) for n in COMMON_REQUIRED if n != "type"))


class _Allowed(NamedTuple):
    """The bytes a text field may hold: as a 256-entry table, and as the bytes that
    ``bytes.translate`` deletes to find whether anything else is left."""

    table: np.ndarray
    deleted: bytes


def _allowed(chars: bytes) -> _Allowed:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    return _Allowed(table, bytes(np.flatnonzero(table).astype(np.uint8)))


# Identifier bytes: letters, digits and ._:@/+=- (a non-ASCII byte is never allowed).
_ID_BYTES = _allowed(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/+=-")
_ID_FIRST = _allowed(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").table
_DIGITS = _allowed(b"0123456789")

# Per choice field: its possible values, and for each the types (as bits) that allow it.
_CHOICES: dict[str, tuple[pa.Array, np.ndarray]] = {}
for _spec in FIELDS:
    if _spec.kind != "choice" or _spec.name in COMMON_REQUIRED:
        continue
    _values = sorted({v for t in EventType for v in _spec.choices_for(t)})
    _owners = np.array(
        [
            sum(1 << i for i, t in enumerate(EVENT_TYPES) if v in _spec.choices_for(t))
            for v in _values
        ],
        dtype=np.int64,
    )
    _CHOICES[_spec.name] = (pa.array(_values, pa.string()), _owners)
_CURRENCIES = pa.array(sorted(CURRENCIES), pa.string())
_TYPE_INDEX = {t.value: i for i, t in enumerate(EVENT_TYPES)}

_US_PER_S = 1_000_000
# Per month of the years 1000-9999 (index (year - 1000) * 12 + month - 1): the day its first
# day falls on (days since 1970-01-01) and how many days it has, by the proleptic Gregorian
# calendar. Two lookups instead of the calendar arithmetic over every row.
_FIRST_YEAR, _LAST_YEAR = 1000, 9999
_MONTH_STARTS = (
    np.arange(f"{_FIRST_YEAR}-01", f"{_LAST_YEAR + 1}-02", dtype="datetime64[M]")
    .astype("datetime64[D]")
    .astype(np.int64)
)  # one more than the months, so that each month's length is a difference
_MONTH_FIRST_DAY = _MONTH_STARTS[:-1]
_MONTH_DAYS = np.diff(_MONTH_STARTS).astype(np.int8)


class _Unsupported(Exception):
    """The chunk has a shape this module does not handle; the query checks all of it."""


def _bitmap(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """``n`` bits of an Arrow bitmap from bit ``offset``, as booleans (unpacked by numpy:
    converting a boolean array with ``to_numpy`` goes bit by bit)."""
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), count=offset + n, bitorder="little")
    return np.asarray(bits[offset:].view(bool))


def _valid(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    if array.null_count == len(array):
        return np.zeros(len(array), dtype=bool)
    return _bitmap(array.buffers()[0], array.offset, len(array))


def _true(array: pa.Array) -> np.ndarray:
    """Where a boolean array is true (null is not)."""
    n = len(array)
    if n == 0 or array.null_count == n:
        return np.zeros(n, dtype=bool)
    values = _bitmap(array.buffers()[1], array.offset, n)
    return values & _valid(array) if array.null_count else values


def _indices(array: pa.Array, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid, index) of an ``index_in`` result into a value set of ``size`` values. Where not
    valid, index is some index in range, for the caller to mask."""
    valid = _valid(array)
    if not valid.any():
        return valid, np.zeros(len(array), dtype=np.int64)
    raw = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array)
    ]
    # A null's slot holds no defined value: clipped into range.
    return valid, np.clip(raw, 0, max(size - 1, 0)).astype(np.int64)


class TextBuffers:
    """A string column's offsets and bytes, for checks over whole buffers."""

    def __init__(self, array: pa.Array) -> None:
        if array.type == pa.large_string():
            offsets_type: type[np.integer] = np.int64
        else:
            offsets_type = np.int32
        buffers = array.buffers()
        n = len(array)
        self.n = n
        self.valid = _valid(array)
        if buffers[1] is None:
            self.offsets = np.zeros(n + 1, dtype=np.int64)
        else:
            raw = np.frombuffer(buffers[1], dtype=offsets_type)
            self.offsets = raw[array.offset : array.offset + n + 1].astype(np.int64)
        self.data = (
            np.frombuffer(buffers[2], dtype=np.uint8)
            if len(buffers) > 2 and buffers[2] is not None
            else np.zeros(0, dtype=np.uint8)
        )
        self.lengths = np.diff(self.offsets)
        # Empty text is a missing value, as in the query.
        self.present = self.valid & (self.lengths > 0)

    def rows_outside(self, allowed: _Allowed) -> np.ndarray:
        """Rows holding at least one byte that ``allowed`` does not allow."""
        found = np.zeros(self.n, dtype=bool)
        low, high = int(self.offsets[0]), int(self.offsets[-1])
        if high <= low:
            return found
        # Usually no row has one: deleting every allowed byte (bytes.translate, several times
        # faster than a table lookup of each byte) leaves nothing.
        if not self.data[low:high].tobytes().translate(None, allowed.deleted):
            return found
        where = np.flatnonzero(~allowed.table[self.data[low:high]])
        if len(where):
            rows = np.searchsorted(self.offsets, where + low, side="right") - 1
            found[rows] = True
        return found

    def first_bytes(self, rows: np.ndarray | slice) -> np.ndarray:
        return np.asarray(self.data[self.offsets[:-1][rows]])


def _ids_ok(text: TextBuffers) -> np.ndarray:
    """Where present, whether the value matches ID_PATTERN."""
    ok = (text.lengths <= ID_MAX_LENGTH) & ~text.rows_outside(_ID_BYTES)
    if text.present.all():  # ids, users: no row to leave out
        ok &= _ID_FIRST[text.first_bytes(slice(None))]
        return np.asarray(ok)
    present = np.flatnonzero(text.present)
    ok[present] &= _ID_FIRST[text.first_bytes(present)]
    return np.asarray(ok)


def _digits_ok(text: TextBuffers) -> np.ndarray:
    """Where present, whether the value is 1-18 plain digits (so fits int64)."""
    return np.asarray((text.lengths <= 18) & ~text.rows_outside(_DIGITS))


def _number(matrix: np.ndarray, start: int, width: int) -> np.ndarray:
    value = matrix[:, start].astype(np.int64) - 48
    for i in range(start + 1, start + width):
        value *= 10
        value += matrix[:, i]
        value -= 48
    return value


def _timestamps(text: TextBuffers) -> tuple[np.ndarray, np.ndarray]:
    """(ok, microseconds since the epoch in UTC) for text timestamps of the forms
    ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}](Z|[+-]HH|[+-]HHMM|[+-]HH:MM)``; other rows are not ok."""
    ok = np.zeros(text.n, dtype=bool)
    micros = np.zeros(text.n, dtype=np.int64)
    candidates = text.present & (text.lengths >= 20) & (text.lengths <= 32)
    lengths = text.lengths
    for length in np.flatnonzero(np.bincount(lengths[candidates])):
        rows = np.flatnonzero(candidates & (lengths == length))
        starts = text.offsets[:-1][rows]
        first = int(starts[0])
        if int(starts[-1]) - first == (len(rows) - 1) * int(length):
            # The rows' bytes follow one another (the usual case): a view, no copy.
            matrix = text.data[first : first + len(rows) * int(length)].reshape(-1, int(length))
        else:
            matrix = text.data[starts[:, None] + np.arange(length)]
        digit = (matrix - np.uint8(48)) <= 9
        base = (
            digit[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]].all(axis=1)
            & (matrix[:, 4] == ord("-"))
            & (matrix[:, 7] == ord("-"))
            & ((matrix[:, 10] == ord("T")) | (matrix[:, 10] == ord(" ")))
            & (matrix[:, 13] == ord(":"))
            & (matrix[:, 16] == ord(":"))
        )
        year, month, day = _number(matrix, 0, 4), _number(matrix, 5, 2), _number(matrix, 8, 2)
        hour, minute, second = (
            _number(matrix, 11, 2),
            _number(matrix, 14, 2),
            _number(matrix, 17, 2),
        )
        in_calendar = (year >= _FIRST_YEAR) & (year <= _LAST_YEAR) & (month >= 1) & (month <= 12)
        index = np.where(in_calendar, (year - _FIRST_YEAR) * 12 + month - 1, 0)
        base &= in_calendar & (day >= 1) & (day <= _MONTH_DAYS[index])
        base &= (hour < 24) & (minute < 60) & (second < 60)
        if not base.any():
            continue
        days = _MONTH_FIRST_DAY[index] + day - 1
        local = ((days * 24 + hour) * 60 + minute) * 60 + second
        for fraction in range(0, 7):
            start = 19 if fraction == 0 else 20 + fraction
            suffix = int(length) - start
            if suffix not in (1, 3, 5, 6):
                continue
            match = base.copy()
            frac_us = np.zeros(len(rows), dtype=np.int64)
            if fraction:
                match &= matrix[:, 19] == ord(".")
                match &= digit[:, 20 : 20 + fraction].all(axis=1)
                frac_us = _number(matrix, 20, fraction) * 10 ** (6 - fraction)
            sign = matrix[:, start]
            if suffix == 1:
                match &= sign == ord("Z")
                offset = np.zeros(len(rows), dtype=np.int64)
            else:
                match &= (sign == ord("+")) | (sign == ord("-"))
                match &= digit[:, start + 1] & digit[:, start + 2]
                hours = _number(matrix, start + 1, 2)
                minutes = np.zeros(len(rows), dtype=np.int64)
                if suffix == 5:
                    match &= digit[:, start + 3] & digit[:, start + 4]
                    minutes = _number(matrix, start + 3, 2)
                elif suffix == 6:
                    match &= matrix[:, start + 3] == ord(":")
                    match &= digit[:, start + 4] & digit[:, start + 5]
                    minutes = _number(matrix, start + 4, 2)
                match &= (hours <= 18) & (minutes < 60)
                offset = np.where(sign == ord("-"), -1, 1) * (hours * 3600 + minutes * 60)
            if not match.any():
                continue
            value = (local - offset) * _US_PER_S + frac_us
            ok[rows[match]] = True
            micros[rows[match]] = value[match]
    return ok, micros


_TIMESTAMP = pa.timestamp("us", tz="UTC")
_KIND_TYPES: dict[str, pa.DataType] = {f.kind: f.arrow_type for f in FIELDS}


def _convert(kind: str, column: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """(present, ok where present, value as the lake's type) of one field's column."""
    target = _KIND_TYPES[kind]
    typ = column.type
    if pa.types.is_null(typ):
        return np.zeros(n, bool), np.ones(n, bool), pa.nulls(n, target)
    if kind in ("id", "string", "choice", "currency") and pa.types.is_integer(typ):
        column, typ = column.cast(pa.string()), pa.string()  # digits, as the query's cast
    if typ in _TEXT_TYPES:
        text = TextBuffers(column)
        present = text.present
        if kind in ("id", "string", "choice", "currency"):
            if kind == "id":
                ok = _ids_ok(text)
            elif kind == "string":
                ok = text.lengths <= TEXT_MAX_LENGTH  # bytes; characters are never more
            elif kind == "currency":
                ok = _true(pc.is_in(column, value_set=_CURRENCIES))
            else:
                ok = np.ones(n, dtype=bool)  # checked against the row's type later
            value = column.cast(pa.string())
            if not np.array_equal(present, text.valid):
                value = pc.if_else(pa.array(present), value, pa.scalar(None, pa.string()))
            return present, ok, value
        if kind in ("int", "money"):
            ok = _digits_ok(text) & present
            cleaned = pc.if_else(pa.array(ok), column, pa.scalar(None, typ))
            return present, ok, cleaned.cast(pa.int64())
        if kind == "bool":
            lower = pc.utf8_lower(column)
            true = _true(pc.equal(lower, "true"))
            false = _true(pc.equal(lower, "false"))
            value = pa.array(true, mask=~(true | false))
            return present, true | false, value
        ok, micros = _timestamps(text)
        return present, ok, pa.array(micros, _TIMESTAMP, mask=~ok)
    present = _valid(column)
    if kind in ("int", "money") and pa.types.is_integer(typ):
        if typ == pa.uint64():
            ok = _true(pc.less_equal(column, 2**63 - 1))
            column = pc.if_else(pa.array(ok), column, pa.scalar(None, typ))
        else:
            ok = np.ones(n, dtype=bool)
        value = column.cast(pa.int64())
        ok &= ~_true(pc.less(value, 0))
        return present, ok, value
    if kind == "bool" and pa.types.is_boolean(typ):
        return present, np.ones(n, dtype=bool), column
    if kind == "timestamp" and pa.types.is_timestamp(typ) and typ.tz is not None:
        ok = np.ones(n, dtype=bool)
        if typ.unit == "ns":  # whole microseconds only; the query decides how to round
            ticks = np.asarray(column.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
            ok = ticks % 1000 == 0
            column = pc.if_else(pa.array(ok), column, pa.scalar(None, typ))
        # The instant is kept; the cast raises (and the query decides) if it does not fit.
        return present, ok, column.cast(_TIMESTAMP)
    # Any other type: the query decides every row that carries a value.
    return present, np.zeros(n, dtype=bool), pa.nulls(n, target)


def fast_check(
    chunk: pa.Table, meta: frozenset[str], schema: pa.Schema
) -> tuple[np.ndarray, pa.Table] | None:
    """(ok, converted): which rows are certainly valid, and every row converted as the query
    converts a valid one (``schema``: source, row, then the event fields; meaningful only where
    ok). None when the chunk is of a shape left wholly to the query."""
    try:
        return _fast_check(chunk, meta, schema)
    except (_Unsupported, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _fast_check(
    chunk: pa.Table, meta: frozenset[str], schema: pa.Schema
) -> tuple[np.ndarray, pa.Table]:
    names = chunk.column_names
    if len(set(names)) != len(names):
        raise _Unsupported
    n = chunk.num_rows
    columns = {name: as_one_array(chunk.column(name)) for name in names}
    if any(pa.types.is_dictionary(c.type) for c in columns.values()):
        raise _Unsupported
    ok = np.ones(n, dtype=bool)
    mask = np.zeros(n, dtype=np.int64)
    present: dict[str, np.ndarray] = {}
    values: dict[str, pa.Array] = {}

    # The type of each row.
    typ = columns.get("type")
    if typ is None or typ.type not in _TEXT_TYPES:
        raise _Unsupported
    type_index = pc.index_in(typ, value_set=_TYPE_SET)
    type_valid, types = _indices(type_index, len(_TYPES))
    ok &= type_valid

    for spec in FIELDS:
        column = columns.get(spec.name)
        if column is None:
            values[spec.name] = pa.nulls(n, spec.arrow_type)
            continue
        carried, good, value = _convert(spec.kind, column, n)
        present[spec.name] = carried
        values[spec.name] = value
        ok &= good | ~carried
        bit = carried.astype(np.int64)
        bit <<= _SHIFT[spec.name]
        mask |= bit

    def has(name: str) -> np.ndarray:
        found = present.get(name)
        return found if found is not None else np.zeros(n, dtype=bool)

    # Fields of the row's type only, the common ones, and the type's required ones.
    ok &= (mask & ~_ALLOWED[types]) == 0
    ok &= (_COMMON & ~mask) == 0
    void = _true(values["void"]) if "void" in present else np.zeros(n, bool)
    ok &= void | ((_REQUIRED[types] & ~mask) == 0)
    # Choices, by the row's type.
    for name, (choices, owners) in _CHOICES.items():
        if name not in present:
            continue
        where = pc.index_in(values[name], value_set=choices)
        known, index = _indices(where, len(choices))
        allowed = ((owners[index] >> types) & 1).astype(bool) & known
        ok &= allowed | ~present[name]
    for spec_t in EVENT_TYPES.values():
        for when_field, when_value, name in spec_t.required_when:
            if when_field not in present:
                continue
            hit = _true(pc.equal(values[when_field], when_value))
            hit &= types == _TYPE_INDEX[spec_t.type.value]
            ok &= ~(hit & ~void & ~has(name))
    any_money = np.zeros(n, dtype=bool)
    for name in MONEY_FIELDS:
        any_money |= has(name)
    ok &= has("currency") | ~any_money
    ok &= ~void | has("supersedes")
    if "supersedes" in present:
        same = _true(pc.equal(values["supersedes"], values["event_id"]))
        ok &= ~same
    # Unknown columns, and what a reader flagged.
    for name, column in columns.items():
        if name in FIELD_BY_NAME:
            continue
        if name in meta:
            if name in ("_unknown_keys", "_nested_keys"):
                if not pa.types.is_list(column.type):
                    raise _Unsupported
                lengths = pc.list_value_length(column).fill_null(0)
                ok &= _true(pc.equal(lengths, 0))
            elif name == "_parse_error":
                ok &= ~_valid(column)
            continue
        if column.type in _TEXT_TYPES:
            ok &= ~TextBuffers(column).present
        else:
            ok &= ~_valid(column)
    ok &= type_valid  # a row without a known type is the query's to explain

    values["void"] = pa.array(void, pa.bool_())
    out = [columns[name].cast(schema.field(name).type) for name in schema.names[:2]]
    out += [values[f.name] for f in FIELDS]
    return ok, pa.Table.from_arrays(out, schema=schema)
