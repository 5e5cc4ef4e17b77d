"""Approval rates, disparate impact and age bands on hand-made tables."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pentascore.monitor.collect import attribute_groups
from pentascore.monitor.fairness import (
    Mark,
    age_bands,
    ages_at,
    categories,
    fairness,
    scenario_marks,
)
from pentascore.service.scenarios import DEFAULT_THRESHOLDS


def test_the_scenario_pass_marks_are_the_services() -> None:
    marks = scenario_marks()
    assert [m.threshold for m in marks] == [550, 600, 650]
    assert marks[0].scenarios == ("bike", "power_bank")
    assert set(marks[2].scenarios) == {"car_rental", "flat_rental", "lending"}
    assert sum(len(m.scenarios) for m in marks) == len(DEFAULT_THRESHOLDS)
    assert marks[1].label == "600 (hotel, other)"


def test_disparate_impact_on_a_hand_made_table() -> None:
    groups = np.array(["A"] * 10 + ["B"] * 10, dtype=object)
    scores = np.array(
        [700] * 8
        + [500] * 2  # A: 8 of 10 at 600 or more
        + [650] * 4
        + [580] * 2
        + [400] * 4  # B: 4 of 10 at 600, 6 of 10 at 550
    )
    bad = np.array([0] * 9 + [1] + [0] * 7 + [1] * 3)
    table = fairness(
        "group", groups, scores, [Mark(550, ("x",)), Mark(600, ("y",))], bad, min_group=5
    )
    a, b = table.rows
    assert (a.group, a.people, b.people) == ("A", 10, 10)
    assert a.approval == (0.8, 0.8) and b.approval == (0.6, 0.4)
    assert a.impact == (1.0, 1.0)
    assert b.impact == pytest.approx((0.75, 0.5))
    assert table.favoured == ("A", "A")
    assert table.flagged == [("B", 550, pytest.approx(0.75)), ("B", 600, pytest.approx(0.5))]
    assert a.bad_rate == 0.1 and b.bad_rate == 0.3
    assert a.mean == 660 and b.quantiles[2] == pytest.approx(580)
    assert a.share == 0.5
    assert table.min_impact() == pytest.approx([0.75, 0.5])
    doc = table.to_dict()
    assert doc["groups"][1]["impact"] == {"550": 0.75, "600": 0.5}
    assert [f["threshold"] for f in doc["flagged"]] == [550, 600]


def test_small_and_unknown_groups_are_shown_but_not_judged() -> None:
    groups = np.array(["A"] * 40 + ["B"] * 40 + ["C"] * 3 + ["unknown"] * 5, dtype=object)
    scores = np.array([700] * 40 + [700] * 20 + [500] * 20 + [900] * 3 + [400] * 5)
    table = fairness("g", groups, scores, [Mark(600, ("x",))])
    rows = {r.group: r for r in table.rows}
    assert [r.group for r in table.rows] == ["A", "B", "C", "unknown"]
    assert table.favoured == ("A",)  # not C: three people at 100% say little
    assert not rows["C"].judged and rows["C"].impact == (1.0,)
    assert not rows["unknown"].judged and rows["unknown"].impact == (0.0,)
    assert table.flagged == [("B", 600, 0.5)]


def test_no_approvals_anywhere_gives_no_ratio() -> None:
    table = fairness(
        "g", np.array(["A", "B"] * 40, dtype=object), np.full(80, 400), [Mark(600, ("x",))]
    )
    assert table.favoured == (None,)
    assert all(r.impact == (None,) for r in table.rows) and table.flagged == []


def test_age_bands() -> None:
    ages = np.array([18, 24.9, 25, 34, 35, 44, 45, 54, 55, 90, np.nan])
    assert age_bands(ages).tolist() == [
        "<25",
        "<25",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-54",
        "45-54",
        "55+",
        "55+",
        "unknown",
    ]
    assert ages_at(np.array([2000, 1970]), date(2025, 10, 1)).tolist() == [25, 55]


def test_groups_from_columns() -> None:
    frame = pd.DataFrame(
        {
            "sex": ["M", "F", None],
            "birth_year": [2001, 1960, 1990],
            "AGE": [30, 61, np.nan],
            "SEX": [1, 2, 1],
        }
    )
    groups = attribute_groups(frame, ["sex", "birth_year", "AGE", "SEX"], date(2025, 10, 1))
    assert groups["sex"].tolist() == ["M", "F", "unknown"]
    assert groups["age"].tolist() == ["<25", "55+", "35-44"]  # from birth_year
    assert groups["AGE"].tolist() == ["25-34", "55+", "unknown"]
    assert groups["SEX"].tolist() == ["1", "2", "1"]
    assert categories([1.0, 2.5, True, ""]).tolist() == ["1", "2.5", "true", "unknown"]
    with pytest.raises(ValueError, match="distinct values"):
        attribute_groups(pd.DataFrame({"x": [str(i) for i in range(60)]}), ["x"])
    with pytest.raises(ValueError, match="not a column"):
        attribute_groups(frame, ["race"])


def test_data_set_fairness_is_measured_on_models_without_the_protected_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """German's benchmark mapping keeps age and foreign worker as inputs; the models whose
    fairness is measured never see any protected column."""
    from pentascore.model.dataset import shipped_mapping_path
    from pentascore.monitor import collect
    from tests.model.conftest import needs_data

    needs_data("german_credit/germancredit.csv.gz")
    seen: list[list[str]] = []
    family = collect.scorecard_family

    def watched(weights):  # type: ignore[no-untyped-def]
        fits = family(weights)

        def fit(data, seed):  # type: ignore[no-untyped-def]
            seen.append(list(data.frame.columns))
            return fits(data, seed)

        return fit

    monkeypatch.setattr(collect, "scorecard_family", watched)
    scores, bad, protected, _ = collect.out_of_fold_scores(shipped_mapping_path("german"), cv=2)
    assert len(seen) == 2 and len(scores) == len(bad) == len(protected) == 1000
    assert all(not set(columns) & set(protected.columns) for columns in seen)
    assert "age_in_years" in protected.columns and "credit_amount" in seen[0]
