"""Ingest into the lake: nothing lost, nothing duplicated, history never rewritten."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.errors import IngestError, StrictIngestError
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import PII_FIELDS, EventType, example_event
from pentascore.lake import ParquetLake, ingest_files
from tests.conftest import KEY

Row = dict[str, Any]


@pytest.fixture(params=[False, True], ids=["own-database", "small-batches"])
def lake(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ParquetLake]:
    """Every test here runs on both ways of committing: a DuckDB database per batch, and the
    service's one long-lived database, a cursor per batch."""
    lake = ParquetLake(tmp_path / "home" / "lake", small_batches=request.param)
    yield lake
    lake.close()


def events(n: int, prefix: str = "ev") -> list[Row]:
    types = list(EventType)
    rows = []
    for i in range(n):
        row = example_event(types[i % len(types)])
        row["event_id"] = f"{prefix}-{i}"
        row["user_id"] = f"U{i % 7:04d}"
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[Row]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[Row]) -> Path:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("true" if v is True else v) for k, v in row.items()})
    return path


def run(lake: ParquetLake, clock: FixedClock, tmp_path: Path, *paths: Path, **kw: Any) -> Any:
    return ingest_files(
        list(paths), lake=lake, key=KEY, rejects_dir=tmp_path / "rejects", clock=clock, **kw
    )


def snapshot(lake: ParquetLake) -> dict[str, str]:
    return {
        str(p.relative_to(lake.root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.root.rglob("*"))
        if p.is_file() and "events" in p.parts
    }


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_every_type_round_trips_through_each_format(
    fmt: str, lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(26)
    path = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, rows)
    elif fmt == "csv":
        write_csv(path, rows)
    else:
        names = list(dict.fromkeys(k for r in rows for k in r))
        schema = pa.schema([(n, pa.string()) for n in names])
        texts = [{k: str(v) for k, v in r.items()} for r in rows]
        pq.write_table(pa.Table.from_pylist(texts, schema=schema), path)

    report = run(lake, clock, tmp_path, path)
    assert (report.accepted, report.duplicates, report.rejected) == (26, 0, 0)
    stored = {r["event_id"]: r for r in lake.read().to_pylist()}
    assert set(stored) == {r["event_id"] for r in rows}
    for row in rows:
        got = stored[row["event_id"]]
        for name, value in row.items():
            if name in PII_FIELDS:
                assert got[name] == pseudonymize_value(KEY, name, value)
            elif name.endswith("ts"):
                assert got[name].isoformat().replace("+00:00", "Z") == value
            else:
                assert got[name] == value, name
        assert got["batch_id"] == report.batch_id
        assert got["ingested_at"] == clock.now()


def test_ingesting_the_same_file_again_adds_nothing(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", events(40))
    first = run(lake, clock, tmp_path, path)
    before = snapshot(lake)
    again = run(lake, clock, tmp_path, path)
    assert (first.accepted, first.duplicates) == (40, 0)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 40, 0)
    assert snapshot(lake) == before
    assert lake.stats().events == 40


def test_repeats_inside_one_batch_count_as_duplicates(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(10)
    path = write_jsonl(tmp_path / "a.jsonl", rows + rows[:4])
    report = run(lake, clock, tmp_path, path)
    assert (report.accepted, report.duplicates, report.rejected) == (10, 4, 0)


def test_a_repeat_inside_one_batch_with_other_content_is_refused(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(6)
    changed = [dict(rows[0], amount=250001), dict(rows[3], address="No. 9 Wensan Road")]
    # The first of each id, in input order, stands: the changed copies come later, in a
    # second file, and an exact copy in the same file counts as a duplicate.
    first = write_jsonl(tmp_path / "a.jsonl", [*rows, rows[1]])
    second = write_jsonl(tmp_path / "b.jsonl", changed)
    report = run(lake, clock, tmp_path, first, second)
    assert (report.accepted, report.duplicates, report.rejected) == (6, 1, 2)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(Path(r["source"]).name, r["row"], r["field"]) for r in rejects] == [
        ("b.jsonl", 1, "event_id"),
        ("b.jsonl", 2, "event_id"),
    ]
    assert all("earlier in this batch" in r["reason"] for r in rejects)
    stored = {e["event_id"]: e for e in lake.read().to_pylist()}
    assert stored[rows[0]["event_id"]]["amount"] == rows[0]["amount"]


def test_an_id_reused_for_other_content_is_refused_with_the_way_to_correct(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(3)
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows))
    changed = [dict(rows[0], ts="2026-04-01T00:00:00Z")]
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "b.jsonl", changed))
    assert (report.accepted, report.rejected) == (0, 1)
    (reject,) = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert (reject["row"], reject["field"]) == (1, "event_id")
    assert "supersedes" in reject["reason"]


def test_a_repeat_that_differs_in_any_one_field_is_refused_and_the_rest_land(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(13)  # one of each type, in EventType's order
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows))
    before = snapshot(lake)
    changes: dict[int, Row] = {
        0: {"amount": 250001},  # bill: a number, by one
        1: {"user_id": "U0099"},  # credit_line: the person
        3: {"address": "No. 9 Wensan Road, Hangzhou"},  # payment: a pseudonymized text
        4: {"direction": "in"},  # transfer: a choice
        9: {"phone": "+86 138 0013 8001"},  # profile_change: one digit
        11: {"ts": "2026-03-05T09:30:00.000001Z"},  # security_event: one microsecond
    }
    second = [dict(rows[i], **change) for i, change in changes.items()]
    unpaid = {k: v for k, v in rows[5].items() if k != "days_past_due"}  # 0 against missing
    second += [unpaid, rows[2], rows[6], *events(2, prefix="new")]
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "b.jsonl", second))
    assert (report.accepted, report.duplicates, report.rejected) == (2, 2, 7)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert sorted(r["row"] for r in rejects) == list(range(1, 8))
    assert {r["field"] for r in rejects} == {"event_id"}
    assert all("different event in the lake" in r["reason"] for r in rejects)
    assert lake.stats().events == 15
    # The first batch's files are as they were: nothing in the lake was overwritten.
    assert {k: v for k, v in snapshot(lake).items() if k in before} == before


def test_a_correction_supersedes_without_rewriting_history(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    bill = example_event(EventType.BILL) | {
        "event_id": "bill-1",
        "paid_ts": None,
        "paid_amount": None,
        "days_past_due": 30,
    }
    bill = {k: v for k, v in bill.items() if v is not None}
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", [bill]))
    paid = bill | {
        "event_id": "bill-1b",
        "supersedes": "bill-1",
        "days_past_due": 45,
        "paid_ts": "2026-04-15T00:00:00Z",
        "paid_amount": bill["amount"],
    }
    payment = example_event(EventType.PAYMENT) | {"event_id": "pay-1"}
    void = {
        "event_id": "pay-1v",
        "user_id": payment["user_id"],
        "type": "payment",
        "ts": "2026-04-16T00:00:00Z",
        "void": True,
        "supersedes": "pay-1",
    }
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "b.jsonl", [paid, payment, void]))
    assert (report.accepted, report.rejected) == (3, 0)

    assert {r["event_id"] for r in lake.read().to_pylist()} == {
        "bill-1",
        "bill-1b",
        "pay-1",
        "pay-1v",
    }
    current = lake.read(current=True).to_pylist()
    assert [(r["event_id"], r["days_past_due"]) for r in current] == [("bill-1b", 45)]
    stats = lake.stats()
    assert (stats.events, stats.current_events) == (4, 1)


def test_a_correction_must_name_an_event_of_the_same_user_and_type(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(2)
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows))
    wrong_user = rows[0] | {"event_id": "c1", "supersedes": rows[0]["event_id"], "user_id": "U9"}
    unknown = rows[0] | {"event_id": "c2", "supersedes": "no-such-event"}
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "b.jsonl", [wrong_user, unknown]))
    assert (report.accepted, report.rejected) == (0, 2)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in rejects] == [(1, "supersedes"), (2, "supersedes")]


def test_corrections_find_their_events_in_any_batch_of_the_lake(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    # Three batches of separate id ranges: the commit reads only the files whose ids could be
    # named, so a correction of the first batch and one of the third must both find theirs,
    # and an event that a later batch corrected stays corrected.
    a, b, c = events(3, "a"), events(3, "b"), events(3, "c")
    for name, rows in (("a", a), ("b", b), ("c", c)):
        run(lake, clock, tmp_path, write_jsonl(tmp_path / f"{name}.jsonl", rows))
    first = a[0] | {"event_id": "d-1", "supersedes": "a-0"}
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "d.jsonl", [first]))
    again = a[0] | {"event_id": "e-1", "supersedes": "a-0"}
    of_third = c[2] | {"event_id": "e-2", "supersedes": "c-2"}
    between = b[1] | {"event_id": "e-3", "supersedes": "b-9"}  # in range, in no batch
    report = run(
        lake, clock, tmp_path, write_jsonl(tmp_path / "e.jsonl", [again, of_third, between])
    )
    assert (report.accepted, report.rejected) == (1, 2)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(r["event_id"], r["field"]) for r in rejects] == [
        ("e-1", "supersedes"),
        ("e-3", "supersedes"),
    ]
    assert "already corrected" in rejects[0]["reason"]
    assert "no earlier event 'b-9'" in rejects[1]["reason"]
    current = {r["event_id"] for r in lake.read(current=True).to_pylist()}
    assert {"d-1", "e-2"} <= current
    assert not {"a-0", "c-2"} & current


def test_bad_rows_never_stop_good_ones(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(20)
    rows[4]["amount"] = -5
    rows[11]["ts"] = "2026-01-01 10:00:00"
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    report = run(lake, clock, tmp_path, path)
    assert (report.accepted, report.rejected) == (18, 2)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(r["source"], r["row"], r["field"]) for r in rejects] == [
        (str(path), 5, "amount"),
        (str(path), 12, "ts"),
    ]
    assert rejects[0]["reason"] == "must be >= 0; got -5"


def test_strict_mode_stores_nothing_from_a_batch_with_a_bad_row(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = events(20)
    rows[7]["currency"] = "RMB"
    with pytest.raises(StrictIngestError, match="row 8: currency"):
        run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows), strict=True)
    assert lake.files() == []
    assert not lake.staging_dir.exists() or not any(lake.staging_dir.iterdir())


def test_csv_rows_keep_their_numbers_around_broken_lines(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = [example_event(EventType.SECURITY_EVENT) | {"event_id": f"s{i}"} for i in range(6)]
    path = write_csv(tmp_path / "a.csv", rows)
    lines = path.read_text().splitlines()
    lines[2] = lines[2] + ",surplus"  # line 3 has one cell too many
    lines.insert(4, "")  # line 5 is blank, which is not a row of data
    lines[6] = lines[6].replace("abnormal_login", "bogus")  # line 7
    path.write_text("\n".join(lines) + "\n")

    report = run(lake, clock, tmp_path, path, chunk_rows=1)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in rejects] == [(3, "*"), (7, "kind")]
    assert "header has" in rejects[0]["reason"]
    assert (report.accepted, report.rejected) == (4, 2)


def test_unknown_columns_and_formats_are_named(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    rows = [example_event(EventType.CHARITY) | {"event_id": "c1", "mood": "happy"}]
    report = run(lake, clock, tmp_path, write_csv(tmp_path / "a.csv", rows))
    (reject,) = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert (reject["field"], reject["reason"]) == ("mood", "unknown field")
    (tmp_path / "events.txt").write_text("")
    with pytest.raises(IngestError, match="cannot tell the format"):
        run(lake, clock, tmp_path, tmp_path / "events.txt")
    with pytest.raises(IngestError, match="no such file"):
        run(lake, clock, tmp_path, tmp_path / "missing.jsonl")


def test_no_raw_identifier_or_key_is_stored_in_the_lake(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    secrets = {
        "user_id": "U-zhang-san-330106",
        "phone": "+86 139 1234 5678",
        "address": "No. 99 Secret Garden Road, Hangzhou",
        "national_id": "330106199001011234",
        "account_id": "CARD-6222021234567890",
        "counterparty_id": "U-li-si-110105",
    }
    rows = [
        example_event(EventType.PROFILE_CHANGE)
        | {"event_id": "p1", "user_id": secrets["user_id"], "phone": secrets["phone"]},
        example_event(EventType.UTILITY_PAYMENT)
        | {"event_id": "u1", "user_id": secrets["user_id"], "address": secrets["address"]},
        example_event(EventType.VERIFICATION)
        | {"event_id": "v1", "user_id": secrets["user_id"], "national_id": secrets["national_id"]},
        example_event(EventType.BILL)
        | {"event_id": "b1", "user_id": secrets["user_id"], "account_id": secrets["account_id"]},
        example_event(EventType.SOCIAL_LINK)
        | {
            "event_id": "l1",
            "user_id": secrets["user_id"],
            "counterparty_id": secrets["counterparty_id"],
        },
    ]
    report = run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", rows))
    assert report.accepted == 5
    stored = b"".join(p.read_bytes() for p in lake.root.rglob("*") if p.is_file())
    for raw in [*secrets.values(), "13912345678", "6222021234567890", "330106199001011234"]:
        assert raw.encode() not in stored, raw
    assert KEY not in stored and KEY.hex().encode() not in stored
    # ... and yet the same person joins up across events and fields.
    users = {r["user_id"] for r in lake.read().to_pylist()}
    assert users == {pseudonymize_value(KEY, "user_id", secrets["user_id"])}


def test_corrections_keep_records_as_chains(
    lake: ParquetLake, clock: FixedClock, tmp_path: Path
) -> None:
    bill = {k: v for k, v in example_event(EventType.BILL).items() if k not in ("paid_ts",)}
    first = bill | {"event_id": "b1", "paid_amount": 0, "days_past_due": 30}
    second = bill | {"event_id": "b2", "supersedes": "b1", "days_past_due": 60}
    run(lake, clock, tmp_path, write_jsonl(tmp_path / "a.jsonl", [first, second]))
    # b1 was corrected by b2 already: a second correction of b1 would fork the record.
    fork = bill | {"event_id": "b3", "supersedes": "b1", "days_past_due": 45}
    # Within a batch too, and a correction must come after the event it corrects.
    twin_a = bill | {"event_id": "b4", "supersedes": "b2", "days_past_due": 90}
    twin_b = bill | {"event_id": "b5", "supersedes": "b2", "days_past_due": 91}
    ahead = bill | {"event_id": "b6", "supersedes": "b7", "days_past_due": 0}
    later = bill | {"event_id": "b7", "account_id": "card-002"}
    report = run(
        lake,
        clock,
        tmp_path,
        write_jsonl(tmp_path / "b.jsonl", [fork, twin_a, twin_b, ahead, later]),
    )
    assert (report.accepted, report.rejected) == (2, 3)
    rejects = [json.loads(line) for line in report.rejects_file.read_text().splitlines()]
    assert [(r["event_id"], r["field"]) for r in rejects] == [
        ("b3", "supersedes"),
        ("b5", "supersedes"),
        ("b6", "supersedes"),
    ]
    assert "already corrected" in rejects[0]["reason"]
    assert "already corrected" in rejects[1]["reason"]
    assert "no earlier event 'b7'" in rejects[2]["reason"]
    assert [r["event_id"] for r in lake.read(current=True).to_pylist()] == ["b4", "b7"]


def test_small_batches_share_one_database_across_threads_and_after_close(
    tmp_path: Path, clock: FixedClock
) -> None:
    lake = ParquetLake(tmp_path / "lake", small_batches=True)
    batches = [events(3, f"t{i}") for i in range(6)]

    def land(i: int) -> Any:
        return run(lake, clock, tmp_path, write_jsonl(tmp_path / f"t{i}.jsonl", batches[i]))

    with ThreadPoolExecutor(3) as pool:  # the writer lock takes them one at a time
        reports = list(pool.map(land, range(4)))
    assert [(r.accepted, r.duplicates, r.rejected) for r in reports] == [(3, 0, 0)] * 4
    lake.close()
    assert land(4).accepted == 3  # a later batch makes a database again
    again = land(0)
    assert (again.accepted, again.duplicates) == (0, 3)
    lake.close()
    assert lake.stats().events == 15
