"""Vectorized validation of raw event chunks, generated from the schema tables.

A chunk is an Arrow table as read from a file: a ``_row`` column (the row number in its source)
and any of the event fields, typed (Parquet) or as text (CSV, JSON lines). One DuckDB query
converts and checks every field of every row at once; a second one, run only when some row is
bad, says for each bad row which field is wrong and why, in words a person can act on
("amount: must be >= 0; got -5"). Nothing here is per-row Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa

from pentascore.events.fastcheck import fast_check
from pentascore.events.schema import (
    COMMON_OPTIONAL,
    COMMON_REQUIRED,
    CURRENCIES,
    EVENT_TYPES,
    FIELD_BY_NAME,
    FIELDS,
    ID_MAX_LENGTH,
    ID_PATTERN,
    LAKE_SCHEMA,
    MONEY_FIELDS,
    TEXT_MAX_LENGTH,
    EventType,
    FieldSpec,
)

ROW = "_row"
SOURCE = "_source"  # which input a row came from (an index the caller keeps), passed through
# Columns a reader may add besides the fields: unknown keys of a JSON object, a parse error.
UNKNOWN_KEYS = "_unknown_keys"
PARSE_ERROR = "_parse_error"
NESTED_KEYS = "_nested_keys"
META_COLUMNS = frozenset({ROW, SOURCE, UNKNOWN_KEYS, PARSE_ERROR, NESTED_KEYS})

EVENT_SCHEMA: pa.Schema = pa.schema([LAKE_SCHEMA.field(f.name) for f in FIELDS])
CHECKED_SCHEMA: pa.Schema = pa.schema(
    [pa.field(SOURCE, pa.int32()), pa.field(ROW, pa.int64()), *EVENT_SCHEMA]
)
REJECT_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("source", pa.int32()),
        pa.field("row", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("event_id", pa.string()),
    ]
)

_INT_RE = r"^\s*[+-]?[0-9]+\s*$"
# ISO 8601 date-time with a UTC offset: 2026-03-05T09:30:00Z, 2026-03-05 09:30:00.123+08:00, ...+00
_TS_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?|UTC)$"
_TEXT = frozenset({"string", "large_string", "string_view"})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Check:
    field: str
    condition: str  # SQL, true when the row is bad
    reason: str  # SQL expression of the reason text
    # SQL, true exactly when ``condition`` is not true (false or NULL): what the fast query
    # filters on. Written so that DuckDB, filtering, evaluates the costly part of a check only
    # on the rows that carry the field.
    good: str = ""

    def passes(self) -> str:
        return self.good or f"(({self.condition}) IS NOT TRUE)"


@dataclass(frozen=True)
class _Compiled:
    valid_sql: str
    rejects_sql: str


# SQL that quotes a value in a reason: 'abc', cut at 60 characters.
_QUOTED = "'''' || left({}, 60) || ''''"


def _shown(spec: FieldSpec, raw: str) -> str:
    """SQL for how the offending value is quoted in a reason; identifiers are never echoed."""
    if spec.pii:
        return _lit("a value that is not shown because it is a personal identifier")
    return _QUOTED.format(f"CAST({raw} AS VARCHAR)")


@dataclass(frozen=True)
class _FieldSql:
    """How one field is read from a chunk, in three steps of one query: the raw value ``r_x``
    (NULL when empty), the converted value ``v_x``, and checks that use only those names."""

    raw: str | None  # SQL for r_x from the chunk's column; None when the chunk lacks the field
    value: str  # SQL for v_x from r_x (or a typed NULL)
    checks: list[_Check]


_SQL_TYPES = {
    "id": "VARCHAR",
    "string": "VARCHAR",
    "choice": "VARCHAR",
    "currency": "VARCHAR",
    "int": "BIGINT",
    "money": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
}


def _field_sql(spec: FieldSpec, column: str | None, arrow_type: pa.DataType | None) -> _FieldSql:
    """Read and check one field, given the chunk's column (its SQL name) and its Arrow type."""
    if column is None or arrow_type is None:
        return _FieldSql(None, f"CAST(NULL AS {_SQL_TYPES[spec.kind]})", [])

    is_text = str(arrow_type) in _TEXT
    # Empty text is a missing value; other whitespace is kept, so " U1" is refused, not guessed.
    raw_def = f"NULLIF({column}, '')" if is_text else column
    r, v = f"r_{spec.name}", f"v_{spec.name}"
    checks: list[_Check] = []

    def bad(condition: str, reason: str) -> None:
        checks.append(
            _Check(
                spec.name,
                f"({r} IS NOT NULL AND ({condition}))",
                reason,
                f"({r} IS NULL OR (({condition}) IS NOT TRUE))",
            )
        )

    kind = spec.kind
    if kind in ("id", "string", "choice", "currency"):
        value = r if is_text else f"CAST({r} AS VARCHAR)"
        if pa.types.is_floating(arrow_type) or pa.types.is_timestamp(arrow_type):
            bad("true", _lit(f"must be text; got a {arrow_type} value"))
        if kind == "id":
            bad(
                f"NOT regexp_full_match({v}, {_lit(ID_PATTERN)})",
                _lit(
                    f"must be 1-{ID_MAX_LENGTH} letters, digits or ._:@/+=- starting with a letter "
                    "or digit; got "
                )
                + " || "
                + _shown(spec, v),
            )
        elif kind == "string":
            bad(
                f"length({v}) > {TEXT_MAX_LENGTH}",
                _lit(f"must be at most {TEXT_MAX_LENGTH} characters; got ")
                + f" || length({v}) || ' characters'",
            )
        elif kind == "currency":
            bad(
                f"NOT {_in(v, CURRENCIES)}",
                _lit("must be an ISO 4217 currency code such as CNY or USD; got ")
                + " || "
                + _shown(spec, v),
            )
        return _FieldSql(raw_def, value, checks)

    if kind in ("int", "money"):
        if is_text:
            value = (
                f"CASE WHEN regexp_full_match({r}, {_lit(_INT_RE)}) "
                f"THEN TRY_CAST(trim({r}) AS BIGINT) END"
            )
        elif pa.types.is_integer(arrow_type):
            value = f"TRY_CAST({r} AS BIGINT)"
        elif pa.types.is_floating(arrow_type):
            value = f"CASE WHEN isfinite({r}) AND {r} = floor({r}) THEN TRY_CAST({r} AS BIGINT) END"
        else:
            value = "CAST(NULL AS BIGINT)"
        unit = " in minor units (e.g. fen, cents)" if kind == "money" else ""
        bad(f"{v} IS NULL", _lit(f"must be a whole number{unit}; got ") + " || " + _shown(spec, r))
        bad(f"{v} < 0", _lit("must be >= 0; got ") + f" || CAST({v} AS VARCHAR)")
        return _FieldSql(raw_def, value, checks)

    if kind == "bool":
        if is_text:
            value = f"TRY_CAST(lower({r}) AS BOOLEAN)"
        elif pa.types.is_boolean(arrow_type) or pa.types.is_integer(arrow_type):
            value = (
                f"CASE WHEN CAST({r} AS VARCHAR) IN ('0', '1', 'true', 'false') "
                f"THEN CAST({r} AS BOOLEAN) END"
            )
        else:
            value = "CAST(NULL AS BOOLEAN)"
        bad(f"{v} IS NULL", _lit("must be true or false; got ") + " || " + _shown(spec, r))
        return _FieldSql(raw_def, value, checks)

    # timestamp
    if is_text:
        value = (
            f"CASE WHEN regexp_full_match({r}, {_lit(_TS_RE)}) "
            f"THEN TRY_CAST(replace({r}, 'UTC', '+00') AS TIMESTAMPTZ) END"
        )
        bad(
            f"{v} IS NULL",
            _lit("must be an ISO 8601 timestamp with a UTC offset, like 2026-03-05T09:30:00Z; got ")
            + " || "
            + _shown(spec, r),
        )
    elif pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
        value = f"CAST({r} AS TIMESTAMPTZ)"
    else:
        value = "CAST(NULL AS TIMESTAMPTZ)"
        what = "naive (no time zone)" if pa.types.is_timestamp(arrow_type) else str(arrow_type)
        bad("true", _lit(f"must be a timezone-aware timestamp; the column is {what}"))
    return _FieldSql(raw_def, value, checks)


def _in(value: str, options: tuple[str, ...] | frozenset[str]) -> str:
    return f"{value} IN ({', '.join(_lit(o) for o in sorted(options))})"


_BITS: dict[str, int] = {f.name: 1 << i for i, f in enumerate(FIELDS)}
MASK = "_mask"
ALLOWED = "_allowed"  # the fields the row's type may carry, as a mask (NULL: unknown type)
REQUIRED = "_required"  # the fields the row's type needs, as a mask


def _type_masks(typ: str) -> str:
    """SQL for the ``_allowed`` and ``_required`` columns, from the type's value ``typ``."""
    allowed = " ".join(
        f"WHEN {_lit(t.value)} THEN {_bits(s.fields)}" for t, s in EVENT_TYPES.items()
    )
    required = " ".join(
        f"WHEN {_lit(t.value)} THEN {_bits(s.required)}" for t, s in EVENT_TYPES.items()
    )
    return (
        f"(CASE {typ} {allowed} END)::BIGINT AS {ALLOWED}, "
        f"(CASE {typ} {required} END)::BIGINT AS {REQUIRED}"
    )


def _bits(names: tuple[str, ...]) -> int:
    return sum(_BITS[n] for n in set(names))


def _row_rules(values: dict[str, str], present: dict[str, str]) -> tuple[list[str], list[_Check]]:
    """Rules across fields: type, membership, required fields, currency, corrections.

    Returns (fast conditions, detailed checks). Both flag exactly the same rows: the fast ones
    decide which rows are valid, using a bitmask of the fields each row carries (``_mask``);
    the detailed ones, run on bad rows only, say which field is wrong and why. Presence is
    judged on the raw value, so a badly formatted field is reported once, by its format check,
    and not again as missing.
    """
    typ = values["type"]
    types = tuple(t.value for t in EVENT_TYPES)
    known_type = f"({ALLOWED} IS NOT NULL)"  # the masks are NULL for an unknown type
    void = f"coalesce({values['void']}, false)"
    fast: list[str] = []
    checks: list[_Check] = []

    def both(field: str, condition: str, reason: str, good: str = "") -> None:
        checks.append(_Check(field, condition, reason, good))
        fast.append(checks[-1].passes())

    both(
        "type",
        f"({typ} IS NULL OR NOT {known_type})",
        f"CASE WHEN {typ} IS NULL THEN 'required' ELSE "
        + _lit("must be one of " + ", ".join(types) + "; got ")
        + f" || {_QUOTED.format(typ)} END",
    )
    common = _bits(tuple(n for n in COMMON_REQUIRED if n != "type"))
    fast.append(f"(({MASK} & ~{ALLOWED}) = 0 OR {ALLOWED} IS NULL)")
    fast.append(f"(({common} & ~{MASK}) = 0)")
    fast.append(f"({void} OR {ALLOWED} IS NULL OR ({REQUIRED} & ~{MASK}) = 0)")

    for name in COMMON_REQUIRED:
        if name != "type":
            checks.append(_Check(name, f"(NOT {present[name]})", _lit("required")))
    for spec in FIELDS:
        if spec.name in COMMON_REQUIRED or spec.name in COMMON_OPTIONAL:
            continue
        owners = tuple(t.value for t, s in EVENT_TYPES.items() if spec.name in s.fields)
        v, has = values[spec.name], present[spec.name]
        if has == "false":
            continue  # the chunk does not carry this field at all
        checks.append(
            _Check(
                spec.name,
                f"({known_type} AND {has} AND NOT {_in(typ, owners)})",
                f"'not a field of ' || {typ} || ' events'",
            )
        )
        if spec.kind == "choice":
            cases = " ".join(
                f"WHEN {_lit(t)} THEN {_in(v, spec.choices_for(EventType(t)))}" for t in owners
            )
            choices = {t: spec.choices_for(EventType(t)) for t in owners}
            words = " ".join(
                f"WHEN {_lit(t)} THEN {_lit('must be one of ' + ', '.join(c) + '; got ')}"
                for t, c in choices.items()
            )
            both(
                spec.name,
                f"({has} AND NOT coalesce(CASE {typ} {cases} ELSE true END, false))",
                f"(CASE {typ} {words} END) || {_QUOTED.format(v)}",
                f"(NOT {has} OR coalesce(CASE {typ} {cases} ELSE true END, false))",
            )
    for spec in FIELDS:
        needed_by = tuple(t.value for t, s in EVENT_TYPES.items() if spec.name in s.required)
        if needed_by and spec.name not in COMMON_REQUIRED:
            checks.append(
                _Check(
                    spec.name,
                    f"(NOT {void} AND NOT {present[spec.name]} AND {_in(typ, needed_by)})",
                    f"'required for ' || {typ} || ' events'",
                )
            )
    for spec_t in EVENT_TYPES.values():
        for when_field, when_value, name in spec_t.required_when:
            both(
                name,
                f"(NOT {void} AND {typ} = {_lit(spec_t.type.value)} AND "
                f"{values[when_field]} = {_lit(when_value)} AND NOT {present[name]})",
                _lit(f"required for {spec_t.type.value} events of {when_field} {when_value}"),
            )
    any_money = " OR ".join(present[m] for m in MONEY_FIELDS)
    both(
        "currency",
        f"(NOT {present['currency']} AND ({any_money}))",
        _lit("required with any amount"),
    )
    both(
        "supersedes",
        f"({void} AND NOT {present['supersedes']})",
        _lit("required when void is true"),
    )
    both(
        "supersedes",
        f"({values['supersedes']} = {values['event_id']})",
        _lit("an event cannot supersede itself"),
    )
    return fast, checks


@lru_cache(maxsize=64)
def _compile(schema: pa.Schema) -> _Compiled:
    columns = {name: schema.field(name).type for name in schema.names}
    # Columns are addressed by position: DuckDB folds case, and a file's "Amount" must stay an
    # unknown field instead of shadowing "amount".
    alias = {name: f"c{i}" for i, name in enumerate(schema.names)}
    raws = [f"{alias[ROW]} AS {ROW}", f"{alias[SOURCE]} AS {SOURCE}"]
    converted = [ROW, SOURCE]
    values: dict[str, str] = {}
    present: dict[str, str] = {}
    checks: list[_Check] = []
    for spec in FIELDS:
        read = _field_sql(spec, alias.get(spec.name), columns.get(spec.name))
        checks.extend(read.checks)
        if read.raw is None:
            values[spec.name], present[spec.name] = read.value, "false"
            continue
        raws.append(f"{read.raw} AS r_{spec.name}")
        converted += [f"r_{spec.name}", f"{read.value} AS v_{spec.name}"]
        values[spec.name] = f"v_{spec.name}"
        present[spec.name] = f"(r_{spec.name} IS NOT NULL)"
    mask = " + ".join(
        f"CASE WHEN r_{name} IS NOT NULL THEN {_BITS[name]} ELSE 0 END"
        for name in values
        if present[name] != "false"
    )
    converted.append(f"({mask or '0'})::BIGINT AS {MASK}")
    fast = [c.passes() for c in checks]  # the format checks
    row_fast, row_checks = _row_rules(values, present)
    fast += row_fast
    checks += row_checks

    for name, arrow_type in columns.items():
        if name in META_COLUMNS or name in FIELD_BY_NAME:
            continue
        is_text = str(arrow_type) in _TEXT
        unknown = f"u_{alias[name]}"
        column = f"NULLIF({alias[name]}, '')" if is_text else alias[name]
        raws.append(f"{column} AS {unknown}")
        converted.append(unknown)
        checks.append(_Check(name, f"({unknown} IS NOT NULL)", _lit("unknown field")))
        fast.append(checks[-1].passes())
    for meta, words in (
        (UNKNOWN_KEYS, "unknown field(s) "),
        (NESTED_KEYS, "must be single values, not objects or lists: "),
    ):
        if meta in columns:
            raws.append(f"{alias[meta]} AS {meta}")
            converted.append(meta)
            checks.append(
                _Check("*", f"(len({meta}) > 0)", f"{_lit(words)} || array_to_string({meta}, ', ')")
            )
            fast.append(checks[-1].passes())
    parse_error = PARSE_ERROR if PARSE_ERROR in columns else None
    if parse_error is not None:
        raws.append(f"{alias[PARSE_ERROR]} AS {PARSE_ERROR}")
        converted.append(PARSE_ERROR)

    source = (
        f"(SELECT *, {_type_masks(values['type'])} FROM "
        f"(SELECT {', '.join(converted)} FROM (SELECT {', '.join(raws)} FROM chunk)))"
    )
    # Every term is true or false, never NULL; DuckDB evaluates a term's costly part only on the
    # rows its cheap guard lets through.
    if parse_error is not None:
        # A line that is not a JSON object has no fields to check.
        fast.insert(0, f"({parse_error} IS NULL)")
    good_all = " AND ".join(fast)
    bad_any = f"NOT ({good_all})"
    # Absent void means not void: store it as false so readers need no three-valued logic.
    values_out = {**values, "void": f"coalesce({values['void']}, false)"}
    projection = ", ".join(f"{values_out[f.name]} AS {_q(f.name)}" for f in FIELDS)
    # One expression, not separate conjuncts: DuckDB would push each conjunct below the
    # projections and compute the converted values again for each.
    valid_sql = f"SELECT {SOURCE}, {ROW}, {projection} FROM {source} WHERE NOT ({bad_any})"

    items = ", ".join(
        f"CASE WHEN coalesce({c.condition}, false) "
        f"THEN {{'field': {_lit(c.field)}, 'reason': {c.reason}}} END"
        for c in checks
    )
    found = f"list_filter([{items}], lambda x: x IS NOT NULL)"
    # Never drop a row silently: should the fast and detailed rules ever disagree, the row is
    # still rejected, with a reason that says so.
    errors = (
        f"CASE WHEN len({found}) = 0 THEN [{{'field': '*', 'reason': "
        f"'failed validation (no detail available; please report)'}}] ELSE {found} END"
    )
    if parse_error is not None:
        errors = (
            f"CASE WHEN {parse_error} IS NOT NULL "
            f"THEN [{{'field': '*', 'reason': {parse_error}}}] ELSE {errors} END"
        )
    rejects_sql = (
        f"SELECT {SOURCE} AS source, {ROW} AS row, e.field AS field, e.reason AS reason, event_id "
        f"FROM (SELECT {SOURCE}, {ROW}, CAST({values['event_id']} AS VARCHAR) AS event_id, "
        f"unnest({errors}) AS e "
        f"FROM {source} WHERE {bad_any}) ORDER BY source, row"
    )
    return _Compiled(valid_sql=valid_sql, rejects_sql=rejects_sql)


@dataclass(frozen=True)
class CheckedChunk:
    """The rows of a chunk that passed (typed as the lake's event fields, with ``_row``) and one
    reject per problem found in the others (``row``, ``field``, ``reason``, ``event_id``)."""

    valid: pa.Table
    rejects: pa.Table


def check_chunk(
    con: duckdb.DuckDBPyConnection, chunk: pa.Table, *, fast: bool = True
) -> CheckedChunk:
    """Validate and convert one raw chunk held in memory; see the module docstring.

    With ``fast`` (the default), `pentascore.events.fastcheck` first passes the rows that are
    certainly valid, in numpy and Arrow compute; only the others go through the query, which
    decides them and explains each bad one. ``fast=False`` runs the query on every row."""
    if ROW not in chunk.column_names:
        raise ValueError(f"chunk must have a {ROW} column; got {chunk.column_names}.")
    if SOURCE not in chunk.column_names:
        chunk = chunk.add_column(0, SOURCE, pa.repeat(pa.scalar(0, pa.int32()), chunk.num_rows))
    if fast and chunk.num_rows:
        quick = _fast(chunk)
        if quick is not None:
            ok, converted = quick
            if ok.all():
                return CheckedChunk(valid=converted, rejects=REJECT_SCHEMA.empty_table())
            rest = _check_chunk(con, chunk.filter(pa.array(~ok)))
            if not ok.any():
                return rest
            valid = converted.filter(pa.array(ok))
            if rest.valid.num_rows:
                valid = _in_input_order(pa.concat_tables([valid, rest.valid]))
            return CheckedChunk(valid=valid, rejects=rest.rejects)
    return _check_chunk(con, chunk)


def _fast(chunk: pa.Table) -> tuple[np.ndarray, pa.Table] | None:
    """`fast_check` of each record batch of ``chunk`` (so its columns are never copied into
    one), or None when some batch is left wholly to the query."""
    batches = chunk.to_batches()
    if len(batches) == 1:
        return fast_check(chunk, META_COLUMNS, CHECKED_SCHEMA)
    oks, tables = [], []
    for batch in batches:
        quick = fast_check(pa.Table.from_batches([batch]), META_COLUMNS, CHECKED_SCHEMA)
        if quick is None:
            return None
        oks.append(quick[0])
        tables.append(quick[1])
    return np.concatenate(oks), pa.concat_tables(tables)


def _in_input_order(table: pa.Table) -> pa.Table:
    key = table.column(SOURCE).to_numpy().astype(np.int64) << 40
    key |= table.column(ROW).to_numpy().astype(np.int64)
    return table.take(pa.array(np.argsort(key, kind="stable")))


def _check_chunk(con: duckdb.DuckDBPyConnection, chunk: pa.Table) -> CheckedChunk:
    # Columns are renamed by position before DuckDB sees them: it folds case, and "Amount"
    # must stay an unknown field instead of shadowing "amount".
    con.register("arrow_chunk", chunk.rename_columns([f"c{i}" for i in range(chunk.num_columns)]))
    try:
        return _check(con, "SELECT * FROM arrow_chunk", chunk.schema, chunk.num_rows)
    finally:
        con.unregister("arrow_chunk")


def _check(
    con: duckdb.DuckDBPyConnection, positional: str, schema: pa.Schema, rows: int
) -> CheckedChunk:
    """Run the checks of ``schema`` over ``positional``, whose columns are named c0, c1, ..."""
    compiled = _compile(schema)
    con.execute(f"CREATE OR REPLACE TEMP VIEW chunk AS {positional}")
    try:
        valid = con.sql(compiled.valid_sql).to_arrow_table()
        if valid.num_rows == rows:
            rejects = REJECT_SCHEMA.empty_table()
        else:
            rejects = con.sql(compiled.rejects_sql).to_arrow_table().cast(REJECT_SCHEMA)
    finally:
        con.execute("DROP VIEW IF EXISTS chunk")
    return CheckedChunk(valid=valid.cast(CHECKED_SCHEMA), rejects=rejects)
