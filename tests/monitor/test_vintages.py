"""When a vintage has matured, and its AUC and KS."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from pentascore.monitor.vintages import (
    evaluate,
    is_matured,
    observed_through,
    pending,
    window_end,
)


def test_a_vintage_matures_when_its_12_month_window_has_been_observed() -> None:
    as_of = date(2025, 10, 1)
    assert window_end(as_of) == datetime(2026, 10, 1, tzinfo=UTC)
    assert is_matured(as_of, datetime(2026, 10, 1, tzinfo=UTC))
    assert not is_matured(as_of, datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC))
    assert is_matured(as_of, datetime(2026, 7, 1, tzinfo=UTC), horizon_months=9)
    # Calendar months: the end of February for a vintage from a leap day.
    assert window_end(date(2024, 2, 29)) == datetime(2025, 2, 28, tzinfo=UTC)


def test_the_lake_is_observed_through_the_end_of_its_latest_events_day() -> None:
    last = datetime(2026, 9, 30, 23, 47, 2, tzinfo=UTC)
    assert observed_through(last) == datetime(2026, 10, 1, tzinfo=UTC)
    assert is_matured(date(2025, 10, 1), observed_through(last))
    assert not is_matured(date(2025, 10, 2), observed_through(last))


def test_auc_and_ks_of_a_matured_vintage() -> None:
    ids = np.array(["a", "b", "c", "d", "e"])
    scores = np.array([400, 500, 700, 800, 900])
    # Labels in another order, with someone who was not scored and without "e".
    label_ids = np.array(["d", "z", "a", "c", "b"])
    bad = np.array([0, 1, 1, 0, 1])
    v = evaluate(date(2025, 1, 1), "sc-x", ids, scores, label_ids, bad)
    assert v.matured and v.people == 4 and v.bads == 2 and v.bad_rate == 0.5
    assert v.matures_on == date(2026, 1, 1)
    # The two bads (a, b) scored below the two goods (c, d): a perfect ranking.
    assert v.auc == pytest.approx(1.0) and v.ks == pytest.approx(1.0) and v.gini == 1.0
    swapped = evaluate(date(2025, 1, 1), "sc-x", ids, scores, label_ids, 1 - bad)
    assert swapped.auc == pytest.approx(0.0)
    doc = v.to_dict()
    assert doc["auc"] == 1.0 and doc["matured"] is True


def test_without_both_outcomes_there_is_no_auc() -> None:
    v = evaluate(
        date(2025, 1, 1),
        "m",
        np.array(["a", "b"]),
        np.array([500, 600]),
        np.array(["a", "b"]),
        np.array([0, 0]),
    )
    assert v.people == 2 and v.bads == 0 and v.auc is None and v.ks is None


def test_a_pending_vintage_says_when_it_matures() -> None:
    v = pending(date(2025, 11, 1), "m")
    assert not v.matured and v.matures_on == date(2026, 11, 1) and v.auc is None
