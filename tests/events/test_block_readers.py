"""The block readers give exactly what the serial readers give: CSV files cut into blocks of
lines and parsed in parallel (falling back to the serial reader from the first block whose
records are not exactly its lines), and JSON lines parsed in numpy (giving the block to
pyarrow's reader whenever it is not plain)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pentascore.events import readers
from pentascore.events.readers import JSON_SCHEMA, ROW, RawChunk

HEADER = ["event_id", "user_id", "type", "address"]
CELL = st.text(alphabet='ab ,"\n\r', max_size=6)


@st.composite
def csv_lines(draw: st.DrawFn) -> bytes:
    """A CSV file: well-formed rows (some with quoted commas, quotes and newlines), blank lines,
    rows of too few or too many cells, in LF or CRLF endings, sometimes a lone CR."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(HEADER)
    for kind in draw(st.lists(st.sampled_from("gggggqbwn"), max_size=40)):
        if kind == "g":  # plain
            writer.writerow(
                [
                    f"e{draw(st.integers(0, 99))}",
                    "U1",
                    "bill",
                    draw(st.sampled_from(["x", "", "a b"])),
                ]
            )
        elif kind == "q":  # anything, quoted as needed
            writer.writerow(draw(st.lists(CELL, min_size=4, max_size=4)))
        elif kind == "b":
            out.write(newline)
        elif kind == "w":  # the wrong number of cells
            writer.writerow(
                draw(st.lists(CELL, min_size=1, max_size=6).filter(lambda c: len(c) != 4))
            )
        else:
            out.write(
                draw(st.sampled_from(["a,b,c,d", 'a,"b\r\nc",d,e', "a,b\rc,d,e,f"])) + newline
            )
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no newline at the end
    return text.encode()


def _read(chunks: list[RawChunk]) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    rows: list[dict[str, Any]] = []
    rejects: list[tuple[int, str]] = []
    for chunk in chunks:
        rows += chunk.table.to_pylist()
        if chunk.rejects is not None:
            rejects += [(r["row"], r["reason"]) for r in chunk.rejects.to_pylist()]
    return rows, sorted(rejects)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=csv_lines(), read_block=st.integers(1, 200))
def test_csv_read_in_parallel_blocks_equals_the_serial_reader(
    data: bytes, read_block: int, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    assert _outcome(lambda: readers._csv_chunks(path, 1 << 24, None, read_block=read_block)) == (
        _outcome(lambda: readers._csv_serial(path, HEADER, 1 << 24, None))
    )


def _outcome(read: Any) -> Any:
    try:
        return _read(list(read()))
    except pa.ArrowInvalid as exc:
        return str(exc)


def test_csv_blocks_number_rows_after_quoted_values_and_bad_rows(tmp_path: Path) -> None:
    lines = ["event_id,user_id,type,address"]
    lines += [f'e{i},U1,bill,"No. {i}, Road"' for i in range(2, 40)]
    lines[10] = "e10,U1,bill"  # too few cells: line 11
    lines[20] = ""  # blank: line 21
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = list(readers._csv_chunks(path, 1 << 24, None, read_block=64))
    rows, rejects = _read(chunks)
    assert len(chunks) > 5  # many blocks, each parsed on its own
    assert rejects == [(11, "has 3 cells but the header has 4")]
    assert [r[ROW] for r in rows] == [n for n in range(2, 40) if n not in (11, 21)]
    assert rows[0]["address"] == "No. 2, Road"
    assert all(r["event_id"] == f"e{r[ROW]}" for r in rows)


def test_a_quoted_newline_sends_the_rest_of_the_file_to_the_serial_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"e{n},U1,bill,x" for n in range(2, 30)]
    rows[14] = 'e16,U1,bill,"two\nlines"'
    path = tmp_path / "in.csv"
    path.write_text("event_id,user_id,type,address\n" + "\n".join(rows) + "\n")
    resumed: list[Any] = []
    serial = readers._csv_serial

    def spy(*args: Any) -> Any:
        resumed.append(args[4])
        return serial(*args)

    monkeypatch.setattr(readers, "_csv_serial", spy)
    got, _ = _read(list(readers._csv_chunks(path, 1 << 24, None, read_block=40)))
    assert len(resumed) == 1 and resumed[0] is not None and resumed[0][1] > 2
    assert len(got) == 28 and got[14]["address"] == "two\nlines"
    # Numbered by record, as the serial reader numbers them.
    assert all(r[ROW] == int(r["event_id"][1:]) for r in got)


# --- JSON lines ------------------------------------------------------------------------------

NAMES = JSON_SCHEMA.names
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-1000, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.text(alphabet='ab "\\\t\u00e9\u4e2d', max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["x"]), st.integers(), max_size=1),
)
TYPED = {
    "string": st.text(alphabet="abc -:+\u00e9", max_size=8),
    "int64": st.integers(-(10**18), 10**18),
    "bool": st.booleans(),
}


@st.composite
def json_line(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from([*NAMES, "Amount", "other", ""]), max_size=6))
    record: dict[str, Any] = {}
    for key in keys:
        typ = str(JSON_SCHEMA.field(key).type) if key in NAMES else "string"
        plain = draw(st.integers(0, 5)) > 0
        record[key] = draw(TYPED[typ] if plain else VALUE)
    style = draw(st.sampled_from(["compact", "compact", "default", "spaced", "raw"]))
    if style == "compact":
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    if style == "default":
        return json.dumps(record)
    if style == "spaced":
        return " " + json.dumps(record, separators=(" , ", " : ")) + "  "
    return draw(
        st.sampled_from(
            [
                "",
                "  ",
                "[1]",
                "{}",
                '{"event_id":"a","event_id":"b"}',
                '{"event_id":"a"}{"event_id":"b"}',
                '{"amount":007}',
                '{"amount":-0}',
                '{"amount":1e3}',
                '{"event_id":"a\tb"}',
                '{"event_id":"a"',
                '{"event_id":"a",}',
                '{"void":true,"event_id":null}',
                '{"event_id" :"a" ,"user_id": "b"}',
                '{"event_id":"a"}\r',
            ]
        )
    )


@settings(max_examples=500, deadline=None)
@given(st.lists(json_line(), min_size=1, max_size=5), st.booleans())
def test_plain_json_lines_parse_as_pyarrow_parses_them(
    lines: list[str], last_newline: bool
) -> None:
    block = "\n".join(lines).encode() + (b"\n" if last_newline else b"")
    count = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    plain = readers._json_plain(block, count)
    if plain is None:
        return
    expected = pajson.read_json(io.BytesIO(block), parse_options=readers._JSON_PARSE)
    assert plain.num_rows == count == expected.num_rows
    assert plain.equals(expected.combine_chunks())


@pytest.mark.parametrize(
    "lines",
    [
        [{"event_id": "e1", "amount": 5, "void": True}, {"event_id": "e2", "address": "x, y"}],
        [{"event_id": "e1", "amount": None, "user_id": "U\u00e9"}] * 3,
    ],
)
@pytest.mark.parametrize(
    "dumps",
    [
        lambda r: json.dumps(r, ensure_ascii=False),
        lambda r: json.dumps(r, separators=(",", ":"), ensure_ascii=False),
    ],
)
def test_plain_json_lines_are_parsed_without_pyarrow(
    lines: list[dict[str, Any]], dumps: Any
) -> None:
    block = "".join(dumps(r) + "\n" for r in lines).encode()
    plain = readers._json_plain(block, len(lines))
    assert plain is not None
    expected = pajson.read_json(io.BytesIO(block), parse_options=readers._JSON_PARSE)
    assert plain.equals(expected.combine_chunks())


def test_a_big_json_block_is_parsed_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_PLAIN_PIECE", 64)
    lines = [{"event_id": f"e{i}", "amount": i, "type": "bill"} for i in range(100)]
    block = "".join(json.dumps(r) + "\n" for r in lines).encode()
    table = readers._json_fast(block, 100)
    assert table is not None
    assert table.column("amount").to_pylist() == list(range(100))
    assert table.column("event_id").num_chunks == 1
    lines[57] = {"event_id": "e57", "amount": 1.5}
    block = "".join(json.dumps(r) + "\n" for r in lines).encode()
    assert readers._json_plain_pieces(block, 100) is None
    assert readers._json_fast(block, 100) is None  # pyarrow refuses it too


def test_blocks_are_parsed_in_order_and_leaving_early_cancels(tmp_path: Path) -> None:
    out = list(readers._in_order(lambda x: x * 2, iter(range(50))))
    assert out == [(i, 2 * i) for i in range(50)]
    gen = readers._in_order(lambda x: x, iter(range(1000)))
    assert next(gen) == (0, 0)
    gen.close()

    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        list(readers._in_order(boom, iter(range(20))))


def test_a_table_of_every_text_field_shares_one_buffer() -> None:
    block = b'{"event_id":"e1","user_id":"U1"}\n{"user_id":"U2","type":"bill"}\n'
    table = readers._json_plain(block, 2)
    assert table is not None
    assert table.column("user_id").to_pylist() == ["U1", "U2"]
    assert table.column("type").to_pylist() == [None, "bill"]
    assert table.column("event_id").to_pylist() == ["e1", None]
    assert pa.types.is_string(table.schema.field("address").type)
