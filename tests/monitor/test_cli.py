"""`pentascore report` and `pentascore fairness` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from pentascore.cli.main import app
from tests.model.conftest import needs_data
from tests.monitor.conftest import MonitoredHome


def _last_json(output: str) -> dict[str, object]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_report_on_a_home(runner: CliRunner, monitored_home: MonitoredHome, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    h = ["--home", str(monitored_home.root)]
    result = runner.invoke(
        app,
        [*h, "report", "--out", str(out), "--demographics", str(monitored_home.truth), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert summary["out"] == str(out) and out.exists()
    runs = summary["runs"]
    assert isinstance(runs, list) and [r["as_of"] for r in runs] == [
        d.isoformat() for d in monitored_home.dates
    ]
    psi = summary["score_psi"]
    assert isinstance(psi, list) and len(psi) == 3 and all(p["psi"] >= 0 for p in psi)
    vintages = summary["vintages"]
    assert isinstance(vintages, list)
    assert [v["matured"] for v in vintages] == [True, True, True, False]
    assert all(v["auc"] > 0.8 for v in vintages[:3])
    migration = summary["migration"]
    assert isinstance(migration, dict)
    assert sum(map(sum, migration["counts"])) == migration["people"] > 0
    fairness = summary["fairness"]
    assert isinstance(fairness, dict)
    assert [a["attribute"] for a in fairness["attributes"]] == ["sex", "age"]
    top = summary["top_features"]
    assert isinstance(top, dict) and len(top["features"]) == 10
    html = out.read_text()
    assert 'id="fairness"' in html and "https://" not in html and "http://" not in html

    # People-readable output, and --now judging maturity at an earlier date.
    plain = runner.invoke(
        app,
        [*h, "report", "--out", str(out), "--now", "2026-09-01", "--model", monitored_home.model],
    )
    assert plain.exit_code == 0, plain.output
    assert "vintage 2025-10-01: maturing until 2026-10-01" in plain.stdout
    assert "score PSI 2025-08" in plain.stdout


def test_report_refusals(runner: CliRunner, monitored_home: MonitoredHome, tmp_path: Path) -> None:
    h = ["--home", str(monitored_home.root)]
    strangers = tmp_path / "strangers.parquet"
    pq.write_table(pa.table({"user_id": ["nobody", "no-one"], "sex": ["F", "M"]}), strangers)
    result = runner.invoke(
        app,
        [*h, "report", "--out", str(tmp_path / "r.html"), "--demographics", str(strangers)],
    )
    assert result.exit_code == 2 and "none of the 2 people" in result.stderr
    missing = runner.invoke(app, [*h, "report", "--demographics", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    bad_engine = runner.invoke(app, [*h, "report", "--engine", "oracle"])
    assert bad_engine.exit_code == 2 and "engine must be one of" in bad_engine.stderr
    both = runner.invoke(app, [*h, "fairness", "--dataset", "german", "--mapping", "x.yaml"])
    assert both.exit_code == 2 and "exactly one" in both.stderr
    unknown = runner.invoke(app, [*h, "fairness", "--dataset", "nowhere"])
    assert unknown.exit_code == 2 and "dataset must be one of" in unknown.stderr


def test_fairness_on_german_credit(runner: CliRunner, tmp_path: Path) -> None:
    needs_data("german_credit/germancredit.csv.gz")
    out = tmp_path / "german.html"
    result = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path / "home"),
            "fairness",
            "--dataset",
            "german",
            "--cv",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert summary["people"] == 1000
    # Out-of-fold scores of the scorecard rank the outcome well.
    assert isinstance(summary["auc"], float) and summary["auc"] > 0.7
    attributes = {a["attribute"]: a for a in summary["attributes"]}  # type: ignore[union-attr]
    assert set(attributes) == {"personal_status_and_sex", "age_in_years", "foreign_worker"}
    sexes = attributes["personal_status_and_sex"]
    assert sum(g["people"] for g in sexes["groups"]) == 1000
    assert any(g["group"].startswith("female") for g in sexes["groups"])
    ages = [g["group"] for g in attributes["age_in_years"]["groups"]]
    assert ages == ["<25", "25-34", "35-44", "45-54", "55+"]
    for attribute in attributes.values():
        for k, mark in enumerate(attribute["marks"]):
            assert mark["threshold"] in (550, 600, 650)
            ratios = [
                g["impact"][str(mark["threshold"])] for g in attribute["groups"] if g["judged"]
            ]
            assert max(ratios) == 1.0 and min(ratios) == attribute["min_impact"][k]
        for g in attribute["groups"]:
            assert 0 <= g["bad_rate"] <= 1
    # Young applicants are approved less often than the most favoured age band at 650.
    young = next(g for g in attributes["age_in_years"]["groups"] if g["group"] == "<25")
    assert young["impact"]["650"] < 1.0
    # Age and foreign worker are inputs of the German benchmark mapping, not of these models.
    assert any(
        "age_in_years" in n and "without any protected column" in n
        for n in summary["notes"]  # type: ignore[union-attr]
    )
    html = out.read_text()
    assert 'id="fairness"' in html and "personal_status_and_sex" in html
    assert "https://" not in html and "http://" not in html
