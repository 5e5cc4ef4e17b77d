"""A batch lands whole or not at all, even when the ingest process is killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pentascore.core.clock import FixedClock
from pentascore.lake import ParquetLake, ingest_files
from tests.conftest import KEY
from tests.lake.test_ingest import events, snapshot, write_jsonl

CHUNK = 100


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pentascore", "--home", str(home), "-v", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PENTASCORE_PSEUDONYM_KEY": KEY.decode()}


def test_a_killed_ingest_leaves_the_lake_exactly_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lake = ParquetLake(home / "lake")
    first = write_jsonl(tmp_path / "first.jsonl", events(50, "first"))
    done = subprocess.run(
        _cli(home, "ingest", str(first), "--json"),
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before = snapshot(lake)
    assert before

    # The second batch comes through a pipe. After two chunks are staged the process waits for
    # more input; that is where it dies, in the middle of its batch.
    rows = events(5 * CHUNK, "second")
    proc = subprocess.Popen(
        _cli(home, "ingest", "-", "--format", "jsonl", "--chunk-rows", str(CHUNK), "--json"),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=_env(),
        text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write("".join(json.dumps(r) + "\n" for r in rows[: 2 * CHUNK + 10]))
    proc.stdin.flush()
    staged = 0
    for line in proc.stderr:
        staged += "staged chunk" in line
        if staged == 2:
            break
    assert staged == 2
    assert any((lake.staging_dir).iterdir())  # the batch was really under way
    proc.kill()
    proc.wait()
    proc.stdin.close()
    proc.stderr.close()

    assert snapshot(lake) == before
    assert lake.stats().events == 50

    # The next writer clears what the dead one left, and the whole batch then lands once.
    report = ingest_files(
        [write_jsonl(tmp_path / "second.jsonl", rows)],
        lake=lake,
        key=KEY,
        rejects_dir=home / "rejects",
        clock=_clock(),
    )
    assert (report.accepted, report.duplicates, report.rejected) == (5 * CHUNK, 0, 0)
    assert lake.stats().events == 50 + 5 * CHUNK
    assert not any(lake.staging_dir.iterdir())


def _clock() -> FixedClock:
    from datetime import UTC, datetime

    return FixedClock(datetime(2026, 4, 2, tzinfo=UTC))


def test_a_batch_staged_but_never_renamed_is_invisible(tmp_path: Path) -> None:
    lake = ParquetLake(tmp_path / "lake")
    ingest_files(
        [write_jsonl(tmp_path / "a.jsonl", events(10))],
        lake=lake,
        key=KEY,
        rejects_dir=tmp_path / "rejects",
        clock=_clock(),
    )
    before = snapshot(lake)
    # What a writer killed just before its commit rename leaves behind.
    ready = lake.staging_dir / "20260402T000000-dead" / "ready"
    ready.mkdir(parents=True)
    (ready / "events.parquet").write_bytes(b"PAR1 half written")
    assert lake.stats().events == 10
    assert snapshot(lake) == before
    ingest_files(
        [write_jsonl(tmp_path / "b.jsonl", events(3, "b"))],
        lake=lake,
        key=KEY,
        rejects_dir=tmp_path / "rejects",
        clock=_clock(),
    )
    assert not (lake.staging_dir / "20260402T000000-dead").exists()
    assert lake.stats().events == 13
