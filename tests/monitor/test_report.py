"""The monitoring report of a simulated home with four monthly runs, and its HTML."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.model.scale import BAND_NAMES
from pentascore.monitor.collect import home_report, select_runs
from pentascore.monitor.report import Report, render
from pentascore.scores.history import ScoreHistory
from pentascore.scores.snapshots import FeatureSnapshots
from tests.conftest import KEY
from tests.monitor.conftest import MonitoredHome

GENERATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _report(home: MonitoredHome, **options: object) -> Report:
    return home_report(
        history=ScoreHistory(home.root / "scores"),
        snapshots=FeatureSnapshots(home.root / "features"),
        lake=ParquetLake(home.root / "lake"),
        engine=DuckDBEngine(threads=1),
        generated_at=GENERATED,
        champion=home.model,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def report(monitored_home: MonitoredHome) -> Report:
    return _report(monitored_home, demographics=pq.read_table(monitored_home.truth), key=KEY)


def test_drift_of_the_score_and_every_feature(
    report: Report, monitored_home: MonitoredHome
) -> None:
    assert [r.as_of for r in report.runs] == monitored_home.dates
    assert [(s.before, s.after) for s in report.score_steps] == list(
        zip(monitored_home.dates, monitored_home.dates[1:], strict=False)
    )
    for step in report.score_steps:
        assert step.score is not None and step.score.value >= 0
        # The same people a month apart, scored by the same model: the score is stable.
        assert step.score.status == "stable"
    assert len(report.feature_steps) == 3
    for step in report.feature_steps:
        assert set(step.features) == {s.name for s in CATALOG}
        values = [p.value for p in step.features.values()]
        assert values == sorted(values, reverse=True)
    # Account age grows by a month for everyone, most of whom joined before the simulated
    # history began: the largest shift of all, and a real one.
    assert next(iter(report.feature_steps[-1].features)) == "ch_account_age_days"
    assert report.feature_steps[-1].features["ch_account_age_days"].status == "shift"


def test_band_migration_of_the_latest_two_runs(
    report: Report, monitored_home: MonitoredHome
) -> None:
    assert report.migration is not None
    before, after, m = report.migration
    assert (before, after) == (date(2025, 10, 1), date(2025, 11, 1))
    history = ScoreHistory(monitored_home.root / "scores")
    a = set(history.read(before, monitored_home.model).column("user_id").to_pylist())
    b = set(history.read(after, monitored_home.model).column("user_id").to_pylist())
    assert m.people == len(a & b) == int(m.counts.sum())
    assert m.only_before == len(a - b) and m.only_after == len(b - a)
    assert m.counts.shape == (len(BAND_NAMES), len(BAND_NAMES))
    assert m.stayed > m.up + m.down  # a month later most people keep their band


def test_matured_vintages_have_auc_and_ks(report: Report) -> None:
    # The lake runs to 2026-09-30: three vintages have matured, the last has not.
    assert report.observed_through == datetime(2026, 10, 1, tzinfo=UTC)
    assert [v.matured for v in report.vintages] == [True, True, True, False]
    for v in report.vintages[:3]:
        assert v.people and v.bads and v.auc is not None and v.ks is not None
        assert v.auc > 0.8 and 0 < v.ks <= 1
    assert report.vintages[3].matures_on == date(2026, 11, 1)


def test_an_earlier_now_leaves_later_vintages_maturing(monitored_home: MonitoredHome) -> None:
    early = _report(monitored_home, now=datetime(2026, 9, 1, tzinfo=UTC))
    assert [v.matured for v in early.vintages] == [True, True, False, False]
    assert early.fairness is None


def test_fairness_by_the_simulated_sex_and_age(report: Report) -> None:
    section = report.fairness
    assert section is not None
    assert [a.attribute for a in section.attributes] == ["sex", "age"]
    sex, age = section.attributes
    assert {r.group for r in sex.rows} == {"F", "M"}
    assert sum(r.people for r in sex.rows) == section.people == report.runs[-1].people
    assert [r.group for r in age.rows][:2] == ["<25", "25-34"]
    for attribute in section.attributes:
        assert [m.threshold for m in attribute.marks] == [550, 600, 650]
        for k in range(3):
            judged = [r.impact[k] for r in attribute.rows if r.judged]
            assert max(judged) == 1.0  # the most favoured group
            assert all(0 <= x <= 1 for x in judged if x is not None)
        for row in attribute.rows:
            # A higher pass mark never approves more people.
            assert list(row.approval) == sorted(row.approval, reverse=True)


def test_the_report_renders_offline(report: Report) -> None:
    html = render(report)
    for section in (
        "distribution",
        "score-psi",
        "feature-psi",
        "migration",
        "vintages",
        "fairness",
    ):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 7
    # Nothing is fetched from anywhere: no URL, no script, no stylesheet or image link.
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"(src|href)=\"(?!#)", html)
    assert "ch_account_age_days" in html and "four-fifths" in html
    assert "maturing: outcome window open until 2026-11-01" in html


def test_an_empty_home_gives_a_report_that_says_so(tmp_path: Path) -> None:
    root = tmp_path
    empty = home_report(
        history=ScoreHistory(root / "scores"),
        snapshots=FeatureSnapshots(root / "features"),
        lake=ParquetLake(root / "lake"),
        engine=DuckDBEngine(threads=1),
        generated_at=GENERATED,
    )
    assert not empty.runs and not empty.vintages and empty.observed_through is None
    html = render(empty)
    assert "score history is empty" in html and 'id="distribution"' not in html


def test_one_run_per_date() -> None:
    runs = [(date(2025, 1, 1), "sc-a"), (date(2025, 1, 1), "sc-b"), (date(2025, 2, 1), "sc-b")]
    assert select_runs(runs, champion="sc-a") == (
        [(date(2025, 1, 1), "sc-a"), (date(2025, 2, 1), "sc-b")],
        [(date(2025, 1, 1), "sc-b")],
    )
    assert select_runs(runs, model="sc-b")[0] == [
        (date(2025, 1, 1), "sc-b"),
        (date(2025, 2, 1), "sc-b"),
    ]
    written = {"sc-a": 2.0, "sc-b": 1.0}
    assert select_runs(runs, written=lambda d, v: written[v])[0][0] == (date(2025, 1, 1), "sc-a")
