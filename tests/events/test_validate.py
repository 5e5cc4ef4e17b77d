"""Bad rows are rejected with the right row and field; good rows pass; the bulk checks and the
pydantic models agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from pentascore.events.schema import (
    EVENT_TYPES,
    FIELD_BY_NAME,
    FIELDS,
    Event,
    EventType,
    example_event,
)
from pentascore.events.validate import ROW, SOURCE, check_chunk
from pentascore.lake.ingest import records_chunk

ADAPTER: TypeAdapter[object] = TypeAdapter(Event)
Row = dict[str, Any]
Defect = Callable[[Row, EventType, st.DrawFn], str]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _text(row: Row) -> Row:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in row.items()}


def _good(event_type: EventType, n: int) -> Row:
    row = _text(example_event(event_type))
    row["event_id"] = f"ok-{n}"
    return row


def _missing_required(row: Row, t: EventType, draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(("event_id", "user_id", "ts", *EVENT_TYPES[t].required)))
    del row[name]
    return name


def _negative_money(row: Row, t: EventType, draw: st.DrawFn) -> str:
    money = [f.name for f in FIELDS if f.kind == "money" and f.name in row]
    if not money:
        return _missing_required(row, t, draw)
    name = draw(st.sampled_from(money))
    row[name] = str(-draw(st.integers(1, 10**9)))
    return name


def _not_a_whole_number(row: Row, t: EventType, draw: st.DrawFn) -> str:
    numbers = [f.name for f in FIELDS if f.kind in ("money", "int") and f.name in row]
    if not numbers:
        return _missing_required(row, t, draw)
    name = draw(st.sampled_from(numbers))
    row[name] = draw(st.sampled_from(["12.5", "abc", "1e3", "--3", "0x10"]))
    return name


def _bad_timestamp(row: Row, t: EventType, draw: st.DrawFn) -> str:
    stamps = [f.name for f in FIELDS if f.kind == "timestamp" and f.name in row]
    name = draw(st.sampled_from(stamps))
    row[name] = draw(
        st.sampled_from(["2026-01-01 10:00:00", "2026-01-01", "yesterday", "2026-13-01T00:00:00Z"])
    )
    return name


def _bad_choice(row: Row, t: EventType, draw: st.DrawFn) -> str:
    choices = [f.name for f in FIELDS if f.kind == "choice" and f.name in row and f.name != "type"]
    if not choices:
        row["type"] = "loan_application"
        return "type"
    name = draw(st.sampled_from(choices))
    row[name] = draw(st.sampled_from(["nonsense", "ONLINE", "on time"]))
    return name


def _field_of_another_type(row: Row, t: EventType, draw: st.DrawFn) -> str:
    foreign = [
        f.name for f in FIELDS if f.name not in EVENT_TYPES[t].fields and f.kind in ("id", "string")
    ]
    name = draw(st.sampled_from(foreign))
    row[name] = "X1"
    return name


def _unknown_field(row: Row, t: EventType, draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["tip", "Amount", "user", "extra_1"]))
    row[name] = "1"
    return name


def _bad_currency(row: Row, t: EventType, draw: st.DrawFn) -> str:
    if "currency" not in row:
        return _bad_choice(row, t, draw)
    row["currency"] = draw(st.sampled_from(["RMB", "usd", "EURO", "$"]))
    return "currency"


def _bad_id(row: Row, t: EventType, draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["event_id", "user_id"]))
    row[name] = draw(st.sampled_from(["has space", "-leading-dash", "x" * 129, "a\tb"]))
    return name


DEFECTS: tuple[Defect, ...] = (
    _missing_required,
    _negative_money,
    _not_a_whole_number,
    _bad_timestamp,
    _bad_choice,
    _field_of_another_type,
    _unknown_field,
    _bad_currency,
    _bad_id,
)


@st.composite
def batch_with_one_bad_row(draw: st.DrawFn) -> tuple[list[Row], int, str]:
    types = draw(st.lists(st.sampled_from(list(EventType)), min_size=1, max_size=12))
    rows = [_good(t, i) for i, t in enumerate(types)]
    position = draw(st.integers(0, len(rows) - 1))
    bad_type = types[position]
    defect = draw(st.sampled_from(DEFECTS))
    field = defect(rows[position], bad_type, draw)
    return rows, position, field


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch_with_one_bad_row())
def test_a_bad_row_is_rejected_with_its_row_and_field(
    con: duckdb.DuckDBPyConnection, case: tuple[list[Row], int, str]
) -> None:
    rows, position, field = case
    checked = check_chunk(con, records_chunk(rows, "test").table)

    rejected = checked.rejects.to_pylist()
    assert {r["row"] for r in rejected} == {position + 1}
    assert field in {r["field"] for r in rejected}, rejected
    assert all(r["reason"] for r in rejected)
    assert checked.valid.num_rows == len(rows) - 1
    assert position + 1 not in checked.valid.column(ROW).to_pylist()
    # The pydantic models, used at the HTTP edge, agree on every row.
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(rows[position])
    for i, row in enumerate(rows):
        if i != position:
            ADAPTER.validate_python(row)


def test_reasons_name_the_value_a_person_must_fix(con: duckdb.DuckDBPyConnection) -> None:
    row = _good(EventType.PAYMENT, 1) | {"amount": "-5"}
    (reject,) = check_chunk(con, records_chunk([row], "test").table).rejects.to_pylist()
    assert (reject["row"], reject["field"], reject["reason"]) == (
        1,
        "amount",
        "must be >= 0; got -5",
    )


def test_personal_identifiers_are_never_echoed_in_reasons(con: duckdb.DuckDBPyConnection) -> None:
    row = _good(EventType.PAYMENT, 1) | {"user_id": "Zhang San 13800138000"}
    (reject,) = check_chunk(con, records_chunk([row], "test").table).rejects.to_pylist()
    assert reject["field"] == "user_id"
    assert "13800138000" not in reject["reason"]


def test_typed_columns_are_checked_by_type(con: duckdb.DuckDBPyConnection) -> None:
    good = example_event(EventType.PAYMENT)
    table = pa.table(
        {
            ROW: pa.array([1, 2, 3], pa.int64()),
            "event_id": ["a", "b", "c"],
            "user_id": ["U1", "U1", "U1"],
            "type": ["payment"] * 3,
            "ts": pa.array([1_700_000_000_000_000] * 3, pa.timestamp("us", tz="UTC")),
            "amount": pa.array([100.0, 12.5, -1.0]),
            "currency": ["CNY"] * 3,
            "channel": [good["channel"]] * 3,
            "merchant_category": [good["merchant_category"]] * 3,
        }
    )
    checked = check_chunk(con, table)
    assert checked.valid.column("amount").to_pylist() == [100]
    assert {(r["row"], r["field"]) for r in checked.rejects.to_pylist()} == {
        (2, "amount"),
        (3, "amount"),
    }


def test_naive_timestamp_columns_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    table = pa.table(
        {
            ROW: pa.array([1], pa.int64()),
            "event_id": ["a"],
            "user_id": ["U1"],
            "type": ["security_event"],
            "ts": pa.array([1_700_000_000_000_000], pa.timestamp("us")),
            "kind": ["abnormal_login"],
        }
    )
    (reject,) = check_chunk(con, table).rejects.to_pylist()
    assert reject["field"] == "ts" and "timezone-aware" in reject["reason"]


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-05T09:30:00Z",
        "2026-03-05 09:30:00+08:00",
        "2026-03-05T09:30:00.123456+0000",
        "2026-03-05 09:30:00+00",
    ],
)
def test_timestamps_with_an_offset_are_converted_to_utc(
    con: duckdb.DuckDBPyConnection, stamp: str
) -> None:
    row = _good(EventType.SECURITY_EVENT, 1) | {"ts": stamp}
    checked = check_chunk(con, records_chunk([row], "test").table)
    assert checked.rejects.num_rows == 0
    (ts,) = checked.valid.column("ts").to_pylist()
    assert ts.utcoffset().total_seconds() == 0


def test_every_field_is_in_the_checked_output(con: duckdb.DuckDBPyConnection) -> None:
    rows = [_good(t, i) for i, t in enumerate(EventType)]
    checked = check_chunk(con, records_chunk(rows, "test").table)
    assert checked.rejects.num_rows == 0
    assert checked.valid.column_names == [SOURCE, ROW, *FIELD_BY_NAME]
    assert checked.valid.column("void").to_pylist() == [False] * len(rows)
