"""The fast decision (numpy, Arrow compute) agrees with the query on every row it passes, and
check_chunk gives the same valid rows and the same rejects with it as without it."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pentascore.events.fastcheck import fast_check
from pentascore.events.schema import FIELDS, EventType, example_event
from pentascore.events.validate import CHECKED_SCHEMA, META_COLUMNS, ROW, SOURCE, check_chunk
from pentascore.lake.ingest import records_chunk

CHOICES = {
    f.name: sorted({v for t in EventType for v in f.choices_for(t)})
    for f in FIELDS
    if f.kind == "choice"
}

IDS = ["U1", "ev-1", "a.b:c@d/e+f=g-h", "-x", " U1", "x" * 128, "x" * 129, "é1", "a b", "", "9"]
TEXTS = ["No. 8 Road", "x" * 512, "x" * 513, "é" * 300, "", " ", "+86 138"]
CURRENCY = ["CNY", "USD", "usd", "RMB", "", " CNY"]
INTS = ["0", "5", "007", "-5", "+5", " 5", "5 ", "12.5", "1e3", "", "0x10", "-0"]
INTS += ["99999999999999999999", "123456789012345678", "9223372036854775807", "٣"]
BOOLS = ["true", "false", "TRUE", "True", "t", "1", "0", "yes", "", "nope"]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from([1, 999, 1000, 1969, 2024, 2026, 9999]))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    hour, minute = draw(st.integers(0, 25)), draw(st.integers(0, 61))
    second = draw(st.integers(0, 61))
    sep = draw(st.sampled_from(["T", " ", "t", "_"]))
    fraction = draw(st.sampled_from(["", "", ".1", ".123456", ".1234567", ".", ".000001"]))
    suffixes = ["Z", "+00", "+08:00", "-0530", "+14", "+18:59", "+19", "+05:60", "z", "+0"]
    suffixes += ["", " Z", "UTC", "+00:00:00", "-12:30", "+0000", "Z "]
    suffix = draw(st.sampled_from(suffixes))
    if draw(st.booleans()):
        year, month, day, hour, minute, second = 2026, 2, 28, 23, 59, 59
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}"
    if draw(st.integers(0, 9)):
        text += f":{second:02d}{fraction}"
    return text + suffix


def _value(kind: str, name: str, draw: st.DrawFn) -> str:
    if kind == "id":
        return draw(st.sampled_from(IDS))
    if kind == "string":
        return draw(st.sampled_from(TEXTS))
    if kind == "choice":
        return draw(st.sampled_from([*CHOICES[name], "nonsense", "ONLINE", ""]))
    if kind == "currency":
        return draw(st.sampled_from(CURRENCY))
    if kind in ("int", "money"):
        return draw(st.one_of(st.sampled_from(INTS), st.integers(-5, 10**12).map(str)))
    if kind == "bool":
        return draw(st.sampled_from(BOOLS))
    return draw(timestamps())


@st.composite
def text_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for i in range(draw(st.integers(1, 12))):
        t = draw(st.sampled_from(list(EventType)))
        row: dict[str, Any] = {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in example_event(t).items()
        }
        row["event_id"] = f"ev-{i}"
        # Change a few fields (any field, of this type or not) to tricky values, or drop them.
        for spec in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
            action = draw(st.integers(0, 4))
            if action == 0:
                row.pop(spec.name, None)
            else:
                row[spec.name] = _value(spec.kind, spec.name, draw)
        if draw(st.integers(0, 9)) == 0:
            row["supersedes"] = draw(st.sampled_from([row.get("event_id", "x"), "ev-0"]))
            if draw(st.booleans()):
                row["void"] = "true"
        if draw(st.integers(0, 19)) == 0:
            row["Amount"] = draw(st.sampled_from(["", "1"]))
        rows.append(row)
    return rows


def _compare(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    fast = check_chunk(con, table)
    slow = check_chunk(con, table, fast=False)
    assert fast.valid.to_pylist() == slow.valid.to_pylist()
    assert fast.rejects.to_pylist() == slow.rejects.to_pylist()
    # And directly: every row the fast decision passes, the query passes with the same values.
    chunk = (
        table
        if SOURCE in table.column_names
        else table.add_column(0, SOURCE, pa.repeat(pa.scalar(0, pa.int32()), table.num_rows))
    )
    quick = fast_check(chunk, META_COLUMNS, CHECKED_SCHEMA)
    if quick is None:
        return
    ok, converted = quick
    passed = converted.filter(pa.array(ok)).to_pylist()
    by_row = {r[ROW]: r for r in slow.valid.to_pylist()}
    for row in passed:
        assert by_row.get(row[ROW]) == row


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text_rows())
def test_text_rows_are_decided_alike_with_and_without_the_fast_path(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]
) -> None:
    _compare(con, records_chunk(rows, "test").table)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(timestamps(), min_size=1, max_size=20))
def test_text_timestamps_convert_as_the_query_converts_them(
    con: duckdb.DuckDBPyConnection, stamps: list[str]
) -> None:
    rows = []
    for i, stamp in enumerate(stamps):
        row = {k: str(v) for k, v in example_event(EventType.SECURITY_EVENT).items()}
        rows.append(row | {"event_id": f"e{i}", "ts": stamp})
    _compare(con, records_chunk(rows, "test").table)


INT_TYPES = [pa.int8(), pa.int32(), pa.int64(), pa.uint32(), pa.uint64(), pa.float64()]
TS_TYPES = [
    pa.timestamp("s", tz="UTC"),
    pa.timestamp("ms", tz="Asia/Shanghai"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ns", tz="UTC"),
    pa.timestamp("us"),
]


@st.composite
def typed_tables(draw: st.DrawFn) -> pa.Table:
    """Parquet-like chunks: typed columns, nulls, values out of range."""
    n = draw(st.integers(1, 10))
    t = draw(st.sampled_from([EventType.PAYMENT, EventType.BILL, EventType.CREDIT_LINE]))
    example = example_event(t)
    int_type = draw(st.sampled_from(INT_TYPES))
    ts_type = draw(st.sampled_from(TS_TYPES))
    limits = {pa.int8(): 127, pa.int32(): 2**31 - 1, pa.uint32(): 2**32 - 1, pa.uint64(): 2**64 - 1}
    high = limits.get(int_type, 2**40)
    low = 0 if pa.types.is_unsigned_integer(int_type) else -5
    ints: list[Any] = draw(
        st.lists(st.one_of(st.none(), st.integers(low, high)), min_size=n, max_size=n)
    )
    if pa.types.is_floating(int_type):
        ints = [None if v is None else v / draw(st.sampled_from([1, 2])) for v in ints]
    ticks = draw(st.lists(st.integers(-(4 * 10**9), 4 * 10**9), min_size=n, max_size=n))
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[ts_type.unit]
    extra = draw(st.sampled_from([0, 0, 1]))
    columns: dict[str, pa.Array] = {
        ROW: pa.array(range(1, n + 1), pa.int64()),
        "event_id": pa.array(
            draw(st.lists(st.sampled_from([1, 2, 3, 4, 5]), min_size=n, max_size=n)),
            pa.int64(),  # an integer id column is text to the checks
        ),
        "user_id": pa.array([draw(st.sampled_from(IDS)) for _ in range(n)]),
        "type": pa.array([t.value] * n),
        "ts": pa.array([v * scale + extra for v in ticks], pa.int64()).cast(ts_type),
    }
    for name, value in example.items():
        if name in columns or name in ("event_id",):
            continue
        spec = next(f for f in FIELDS if f.name == name)
        if spec.kind in ("money", "int"):
            columns[name] = pa.array(ints, int_type)
        elif spec.kind == "timestamp":
            columns[name] = pa.array([v * scale for v in ticks], pa.int64()).cast(ts_type)
        else:
            columns[name] = pa.array([value] * n)
    if draw(st.booleans()):
        voids = draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n))
        columns["void"] = pa.array(voids, pa.bool_())
    return pa.table(columns)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typed_tables())
def test_typed_columns_are_decided_alike_with_and_without_the_fast_path(
    con: duckdb.DuckDBPyConnection, table: pa.Table
) -> None:
    _compare(con, table)


def test_simulated_rows_all_take_the_fast_path(tmp_path: Any) -> None:
    """The benchmark's rows, in each format's raw form, never need the query."""
    from pentascore.events.readers import read_chunks
    from pentascore.sim import SimulationConfig, simulate, write_population

    population = simulate(SimulationConfig(users=60, months=3, seed=3))
    with duckdb.connect() as con:
        for fmt in ("parquet", "csv", "jsonl"):
            write_population(population, tmp_path / fmt, fmt=fmt)
            for path in sorted((tmp_path / fmt / "events").iterdir()):
                for chunk in read_chunks(path, fmt, con):
                    if chunk.table.num_rows == 0:
                        continue
                    table = chunk.table.add_column(
                        0, SOURCE, pa.repeat(pa.scalar(0, pa.int32()), chunk.table.num_rows)
                    )
                    quick = fast_check(table, META_COLUMNS, CHECKED_SCHEMA)
                    assert quick is not None, fmt
                    assert bool(np.all(quick[0])), fmt


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(typed_tables(), text_rows().map(lambda rows: records_chunk(rows, "t").table)))
@example(
    # The first amount does not fit an int64: the fast path leaves the chunk to the query, and
    # decides a slice without that row (found by hypothesis on CI).
    pa.table(
        {
            ROW: pa.array([1, 2], pa.int64()),
            "event_id": pa.array([1, 1], pa.int64()),
            "user_id": ["U1", "U1"],
            "type": ["payment", "payment"],
            "ts": pa.array([0, 0], pa.timestamp("s", tz="UTC")),
            "amount": pa.array([2**63, None], pa.uint64()),
            "currency": ["CNY", "CNY"],
        }
    )
)
def test_a_slice_is_decided_as_the_rows_of_the_whole_chunk(table: pa.Table) -> None:
    """Bitmaps and offsets are read from their buffers at the array's offset, which a slice
    moves (to any bit, not only whole bytes): every row of a chunk the fast path decides is
    decided and converted alike in a slice of it."""
    chunk = table.add_column(0, SOURCE, pa.repeat(pa.scalar(0, pa.int32()), table.num_rows))
    whole = fast_check(chunk, META_COLUMNS, CHECKED_SCHEMA)
    if whole is None:
        # Left to the query, perhaps for a row a slice leaves out: nothing to compare.
        return
    for start in range(1, min(chunk.num_rows, 9)):
        part = fast_check(chunk.slice(start), META_COLUMNS, CHECKED_SCHEMA)
        assert part is not None
        assert part[0].tolist() == whole[0][start:].tolist()
        ok = pa.array(part[0])
        assert part[1].filter(ok).to_pylist() == whole[1].slice(start).filter(ok).to_pylist()
