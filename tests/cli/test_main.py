"""The CLI is a thin shell: JSON output, exit codes, and the home folder."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pentascore.cli.main import app
from pentascore.events.schema import EventType
from tests.cli.conftest import last_json
from tests.lake.test_ingest import events, write_jsonl


def test_ingest_json_and_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    good = write_jsonl(tmp_path / "good.jsonl", events(26))
    result = runner.invoke(app, ["--home", home, "ingest", str(good), "--json"])
    assert result.exit_code == 0, result.output
    out = last_json(result.stdout)
    assert out["accepted"] == 26 and out["duplicates"] == 0 and out["rejected"] == 0
    assert out["rejects_file"] is None

    again = runner.invoke(app, ["--home", home, "ingest", str(good), "--json"])
    assert again.exit_code == 0
    assert (last_json(again.stdout)["accepted"], last_json(again.stdout)["duplicates"]) == (0, 26)

    rows = events(3, "bad")
    rows[1]["amount"] = -5
    bad = runner.invoke(
        app, ["--home", home, "ingest", str(write_jsonl(tmp_path / "bad.jsonl", rows)), "--json"]
    )
    assert bad.exit_code == 1
    report = last_json(bad.stdout)
    assert (report["accepted"], report["rejected"]) == (2, 1)
    reject = json.loads(Path(str(report["rejects_file"])).read_text().splitlines()[0])
    assert (reject["row"], reject["field"], reject["reason"]) == (
        2,
        "amount",
        "must be >= 0; got -5",
    )


def test_strict_refuses_the_batch_with_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    rows = events(5)
    rows[3]["ts"] = "soon"
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    home = str(tmp_path / "home")
    result = runner.invoke(app, ["--home", home, "ingest", str(path), "--strict"])
    assert result.exit_code == 1
    assert "row 4: ts" in result.stderr
    stats = runner.invoke(app, ["--home", home, "lake", "stats", "--json"])
    assert last_json(stats.stdout)["events"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "missing.jsonl"],
        ["ingest", "x.jsonl", "--format", "xml"],
        ["ingest"],
        ["ingest", "-"],
        ["lake", "nope"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 2, result.output


def test_lake_statslast_json(runner: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    runner.invoke(
        app, ["--home", home, "ingest", str(write_jsonl(tmp_path / "a.jsonl", events(26)))]
    )
    result = runner.invoke(app, ["--home", home, "lake", "stats", "--json"])
    assert result.exit_code == 0
    stats = last_json(result.stdout)
    assert stats["events"] == 26 and stats["users"] == 7
    assert stats["by_type"] == {t.value: 2 for t in EventType}
    assert stats["first_ts"] == stats["last_ts"] == "2026-03-05T09:30:00+00:00"
    human = runner.invoke(app, ["--home", home, "lake", "stats"])
    assert "26 events" in human.stdout


def test_home_comes_from_the_environment(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PENTASCORE_HOME", str(tmp_path / "envhome"))
    result = runner.invoke(app, ["ingest", str(write_jsonl(tmp_path / "a.jsonl", events(2)))])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "envhome" / "lake" / "events").is_dir()


def test_a_key_is_created_once_outside_the_lake(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    for name in ("a", "b"):
        path = write_jsonl(tmp_path / f"{name}.jsonl", events(2, name))
        assert runner.invoke(app, ["--home", str(home), "ingest", str(path)]).exit_code == 0
    key_file = home / "secrets" / "pseudonym.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    stats = last_json(runner.invoke(app, ["--home", str(home), "lake", "stats", "--json"]).stdout)
    assert stats["users"] == 2  # the same key both times: U0000 and U0001 join up


def test_simulate_then_ingest_then_stats(runner: CliRunner, tmp_path: Path) -> None:
    out, home = tmp_path / "sim", str(tmp_path / "home")
    result = runner.invoke(
        app,
        [
            "simulate",
            "--users",
            "300",
            "--months",
            "6",
            "--seed",
            "3",
            "--out",
            str(out),
            "--format",
            "csv",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = last_json(result.stdout)
    assert meta["users"] == 300 and (out / "truth" / "users.parquet").exists()
    assert all(p.suffix == ".csv" for p in (out / "events").iterdir())

    ingested = runner.invoke(app, ["--home", home, "ingest", str(out / "events"), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert last_json(ingested.stdout)["accepted"] == meta["events"]
    stats = last_json(runner.invoke(app, ["--home", home, "lake", "stats", "--json"]).stdout)
    assert stats["events"] == meta["events"]
    assert stats["by_type"] == meta["by_type"]
    assert stats["users"] == 300


def test_simulate_refuses_what_cannot_work(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--users", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--format", "xlsx"])
    assert result.exit_code == 2


def test_features_and_labels_commands(runner: CliRunner, tmp_path: Path) -> None:
    out, home = tmp_path / "sim", str(tmp_path / "home")
    meta = last_json(
        runner.invoke(
            app,
            [
                "simulate",
                "--users",
                "400",
                "--months",
                "12",
                "--seed",
                "5",
                "--out",
                str(out),
                "--json",
            ],
        ).stdout
    )
    assert runner.invoke(app, ["--home", home, "ingest", str(out / "events")]).exit_code == 0
    as_of = str(meta["as_of"])[:10]

    result = runner.invoke(
        app,
        [
            "--home",
            home,
            "features",
            "--as-of",
            as_of,
            "--out",
            str(tmp_path / "f.parquet"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = last_json(result.stdout)
    assert summary["users"] > 300 and summary["features"] == sum(
        summary["by_dimension"].values()  # type: ignore[union-attr]
    )
    assert set(summary["by_dimension"]) == {  # type: ignore[arg-type]
        "credit_history",
        "behavior_preference",
        "fulfillment_capacity",
        "identity_traits",
        "connections",
    }
    assert (tmp_path / "f.parquet").exists() and isinstance(summary["seconds"], float)
    limited = runner.invoke(
        app,
        [
            "--home",
            home,
            "features",
            "--as-of",
            as_of,
            "--memory-limit",
            "1GB",
            "--out",
            str(tmp_path / "f2.parquet"),
        ],
    )
    assert limited.exit_code == 0, limited.output
    assert pq.read_table(tmp_path / "f2.parquet").equals(pq.read_table(tmp_path / "f.parquet"))

    result = runner.invoke(
        app,
        [
            "--home",
            home,
            "labels",
            "--as-of",
            as_of,
            "--horizon-months",
            "12",
            "--out",
            str(tmp_path / "l.parquet"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    labels = last_json(result.stdout)
    assert labels["users"] == summary["users"]
    assert 0 < labels["bad"] < labels["users"]

    bad = runner.invoke(app, ["--home", home, "features", "--as-of", "soon", "--out", "x.parquet"])
    assert bad.exit_code == 2
    bad = runner.invoke(
        app, ["--home", home, "features", "--as-of", as_of, "--engine", "oracle", "--out", "x"]
    )
    assert bad.exit_code == 2
