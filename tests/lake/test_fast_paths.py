"""The fast paths of ingest give exactly what the general ones give: JSON lines read by blocks
(falling back to the per-line parser where pyarrow refuses a block), the commit that skips
the search for repeats when ids cannot repeat, Parquet read in batches, and files read ahead
on a thread of their own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.errors import IngestError, StrictIngestError
from pentascore.events import readers
from pentascore.events.readers import RawChunk
from pentascore.lake import ParquetLake, store
from pentascore.lake.ingest import read_ahead
from tests.lake.test_ingest import events, run, write_csv, write_jsonl

Row = dict[str, Any]


def _rejects(report: Any) -> list[tuple[int, str]]:
    if report.rejects_file is None:
        return []
    lines = report.rejects_file.read_text().splitlines()
    return [(r["row"], r["field"]) for r in map(json.loads, lines)]


def _stored(lake: ParquetLake) -> list[Row]:
    rows = lake.read().drop_columns(["batch_id", "ingested_at"]).to_pylist()
    return sorted(rows, key=lambda r: str(r["event_id"]))


def _mixed_jsonl(path: Path) -> tuple[Path, dict[int, str], int]:
    """About 200 kB of JSON lines, most good, some that pyarrow refuses or that a check
    rejects; returns the path, the rejected lines with a field each must be reported under,
    and how many rows are good."""
    rows = events(1500)  # line n holds a payment when (n - 1) % 13 == 3
    lines = [json.dumps(r) for r in rows]
    rejected = {
        10: ("*", json.dumps(rows[9] | {"mood": "happy"})),  # unknown field
        706: ("amount", json.dumps(rows[705] | {"amount": 1.5})),
        900: ("*", json.dumps(rows[899]) + json.dumps(rows[900])),  # two objects on a line
        1100: ("*", "[1, 2]"),
        1304: ("amount", json.dumps(rows[1303] | {"amount": -5})),  # pyarrow takes it
        1450: ("*", json.dumps(rows[1449] | {"account_id": {"x": 1}})),
    }
    refused_but_good = {
        212: json.dumps(rows[211] | {"amount": "12"}),  # text "12" is a valid amount
    }
    blank = {400: "", 401: "   "}  # skipped, not rows
    for line, (_, text) in rejected.items():
        lines[line - 1] = text
    for line, text in {**refused_but_good, **blank}.items():
        lines[line - 1] = text
    path.write_bytes(("\n".join(lines) + "\n").encode())
    good = len(rows) - len(rejected) - len(blank)
    return path, {line: field for line, (field, _) in rejected.items()}, good


@pytest.mark.parametrize("fast", [True, False])
def test_json_lines_keep_their_numbers_whichever_parser_reads_them(
    fast: bool,
    lake: ParquetLake,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not fast:
        monkeypatch.setattr(readers, "_json_fast", lambda block, lines: None)
    path, expected, good = _mixed_jsonl(tmp_path / "a.jsonl")
    report = run(lake, clock, tmp_path, path, chunk_rows=512)
    rejects = _rejects(report)
    assert sorted({row for row, _ in rejects}) == sorted(expected)
    assert all(item in rejects for item in expected.items())
    assert (report.accepted, report.rejected) == (good, len(expected))


def test_the_fast_json_path_stores_what_the_per_line_parser_stores(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = _mixed_jsonl(tmp_path / "a.jsonl")
    run(lake, clock, tmp_path, path)
    fast = _stored(lake)
    other = ParquetLake(tmp_path / "other")
    monkeypatch.setattr(readers, "_json_fast", lambda block, lines: None)
    run(other, clock, tmp_path, path)
    assert fast == _stored(other)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1}\n\n{"a": 2}\n',  # blank line
        b'{"a": 1}\n \t\n{"a": 2}\n',  # whitespace-only line
        b'\xef\xbb\xbf{"a": 1}\n',  # byte-order mark
        b'{"event_id": "e1"}{"event_id": "e2"}\n{"event_id": "e3"}\n',  # two on a line
        b'{"event_id": "\xff"}\n',  # not UTF-8
        b'{"event_id": "e1", "event_id": "e2"}\n',  # a key twice
        b'{"amount": 1.0}\n',  # a float for a whole number
        b'{"amount": "5"}\n',  # text for a number
        b'{"Amount": 5}\n',  # an unknown field
    ],
)
def test_the_fast_json_parser_refuses_what_it_cannot_vouch_for(text: bytes) -> None:
    body = text[:-1] if text.endswith(b"\n") else text
    lines = body.count(b"\n") + 1
    assert readers._json_fast(text, lines) is None


def test_the_fast_json_parser_types_a_good_block() -> None:
    text = b'{"event_id": "e1", "amount": 5, "void": true}\n{"event_id": "e2"}\n'
    table = readers._json_fast(text, 2)
    assert table is not None
    assert table.column("amount").to_pylist() == [5, None]
    assert table.column("void").type == pa.bool_()


@pytest.mark.parametrize("chunk_rows", [1, 3, 5, 100])
def test_repeats_across_chunks_are_found_however_the_batch_is_cut(
    chunk_rows: int, lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(10)
    # Ascending runs whose ranges overlap: ev-0..ev-9, then ev-2 and ev-7 again.
    path = write_jsonl(tmp_path / "a.jsonl", [*rows, rows[2], rows[7]])
    report = run(lake, clock, tmp_path, path, chunk_rows=chunk_rows)
    assert (report.accepted, report.duplicates, report.rejected) == (10, 2, 0)


def test_a_repeat_at_the_edge_of_a_lake_file_is_found(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    first = events(10, "a")
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", first))
    last = max(first, key=lambda r: str(r["event_id"]))  # the top of the lake file's range
    changed = last | {"ts": "2026-04-01T00:00:00Z"}
    later = events(3, "b")
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "b.jsonl", [last, *later]))
    assert (report.accepted, report.duplicates, report.rejected) == (3, 1, 0)
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "c.jsonl", [changed]))
    assert (report.accepted, report.rejected) == (0, 1)
    assert _rejects(report) == [(1, "event_id")]


def test_batches_of_disjoint_ids_are_all_kept(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    for i, prefix in enumerate(["m", "a", "z"]):
        report = run(lake, clock, tmp_path, write_jsonl(tmp_path / f"{i}.jsonl", events(7, prefix)))
        assert (report.accepted, report.duplicates) == (7, 0)
    assert lake.stats().events == 21


def test_repeats_are_looked_for_only_in_files_whose_recorded_ids_could_hold_them(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", events(5, "a")))
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "m.jsonl", events(5, "m")))
    first, second = lake.batch_dirs()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["event_ids"] == {"part-00000.parquet": ["a-0", "a-4"]}
    # A batch published before manifests recorded ids: its files' footers are read instead.
    del manifest["event_ids"]
    (first / "manifest.json").write_text(json.dumps(manifest))
    opened: list[str] = []
    footers = store._row_group_id_ranges
    monkeypatch.setattr(
        store, "_row_group_id_ranges", lambda path: opened.append(path.parent.name) or footers(path)
    )
    again = run(lake, clock, tmp_path, write_jsonl(tmp_path / "again.jsonl", events(5, "a")))
    assert (again.accepted, again.duplicates) == (0, 5)
    assert opened == [first.name]
    # The second batch's recorded range (m-0 to m-4) rules its file out without opening it;
    # a repeat of it is found through that range.
    again = run(lake, clock, tmp_path, write_jsonl(tmp_path / "m2.jsonl", events(2, "m")))
    assert (again.accepted, again.duplicates) == (0, 2)
    assert second.name not in opened


def _write_parquet(path: Path, rows: list[Row], **options: Any) -> None:
    names = list(dict.fromkeys(k for r in rows for k in r))
    schema = pa.schema([(n, pa.string()) for n in names])
    texts = [{k: str(v) for k, v in r.items()} for r in rows]
    pq.write_table(pa.Table.from_pylist(texts, schema=schema), path, **options)


def test_reading_ahead_keeps_the_order_and_raises_where_the_chunk_would_be() -> None:
    def chunks() -> Iterator[RawChunk]:
        for i in range(5):
            yield RawChunk(str(i), pa.table({"_row": [i]}))
        raise IngestError("broken file")

    seen = []
    with pytest.raises(IngestError, match="broken file"):
        for chunk in read_ahead(chunks()):
            seen.append(chunk.source)
    assert seen == ["0", "1", "2", "3", "4"]


def test_leaving_early_stops_the_reader() -> None:
    closed = threading.Event()

    def chunks() -> Iterator[RawChunk]:
        try:
            for i in range(1000):
                yield RawChunk(str(i), pa.table({"_row": [i]}))
        finally:
            closed.set()

    ahead = read_ahead(chunks())
    assert next(ahead).source == "0"
    ahead.close()
    assert closed.is_set()
    assert not any(t.name == "ingest-reader" for t in threading.enumerate())


def test_a_strict_failure_in_a_folder_stops_reading_and_stores_nothing(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        rows = events(30, prefix=f"f{i}")
        if i == 1:
            rows[3]["amount"] = -5
        _write_parquet(folder / f"{i}.parquet", rows)
    with pytest.raises(StrictIngestError, match="row 4"):
        run(lake, clock, tmp_path, folder, strict=True)
    assert lake.files() == []
    assert not any(t.name == "ingest-reader" for t in threading.enumerate())


def test_parquet_rows_are_numbered_across_batches_of_a_file(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(50)
    rows[42]["currency"] = "RMB"  # row 43, a payment
    path = tmp_path / "a.parquet"
    _write_parquet(path, rows, row_group_size=7)
    report = run(lake, clock, tmp_path, path, chunk_rows=10)
    assert _rejects(report) == [(43, "currency")]
    assert report.accepted == 49


def _bad_rows(rows: list[Row], lines: list[int]) -> None:
    for line in lines:
        rows[line - 1]["event_id"] = "bad id!"  # every type carries an event id


@pytest.mark.parametrize("chunk_rows", [3, 8, 1000])
def test_chunks_checked_in_parallel_are_staged_and_reported_in_input_order(
    chunk_rows: int, lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(120)
    bad = [5, 6, 31, 58, 59, 60, 117]
    _bad_rows(rows, bad)
    report = run(
        lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows), chunk_rows=chunk_rows
    )
    assert _rejects(report) == [(line, "event_id") for line in bad]
    assert report.accepted == 120 - len(bad)
    stored = lake.read().column("event_id").to_pylist()
    assert stored == [r["event_id"] for i, r in enumerate(rows, 1) if i not in bad]


@pytest.mark.parametrize("chunk_rows", [3, 8, 1000])
def test_strict_reports_the_first_bad_row_of_chunks_checked_in_parallel(
    chunk_rows: int, lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(120)
    _bad_rows(rows, [31, 58, 117])
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    with pytest.raises(StrictIngestError, match="row 31"):
        run(lake, clock, tmp_path, path, chunk_rows=chunk_rows, strict=True)
    assert lake.files() == []
    assert not any(t.name.startswith("ingest-") for t in threading.enumerate())


def test_csv_rows_keep_their_numbers_across_parallel_blocks(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(3000)  # more than one block of 64 kB
    _bad_rows(rows, [2, 1500, 2999])
    path = write_csv(tmp_path / "a.csv", rows)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(1000, "\n")  # a blank line: line 1001, skipped
    lines.insert(2000, "a,b\n")  # too few cells: line 2001
    path.write_text("".join(lines))
    report = run(lake, clock, tmp_path, path, chunk_rows=100)
    # Data lines are shifted by one after the blank line and again after the short row.
    expected = [(3, "event_id"), (1502, "event_id"), (2001, "*"), (3002, "event_id")]
    assert sorted(_rejects(report)) == expected
    assert report.accepted == 3000 - 3
