"""The GBDT challenger decomposes exactly too, stays on the scale, and keeps its monotone
constraints."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pentascore.model.dataset import Dataset
from pentascore.model.gbdt import Gbdt


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_score_is_base_plus_points_within_350_950(
    data: st.DataObject, any_rows: st.SearchStrategy[pd.DataFrame], german_gbdt: Gbdt
) -> None:
    frame = data.draw(any_rows)
    scores, points = german_gbdt.score(frame)
    assert np.array_equal(scores, german_gbdt.base + points.sum(axis=1))
    assert scores.min() >= 350 and scores.max() <= 950


def test_training_population_spans_the_scale(german: Dataset, german_gbdt: Gbdt) -> None:
    scores, _ = german_gbdt.score(german.frame)
    assert scores.min() <= 352 and scores.max() >= 948


def test_more_months_never_raise_the_score(german: Dataset, german_gbdt: Gbdt) -> None:
    """duration_in_month is constrained to increase risk (german.yaml)."""
    rows = german.frame.sample(50, random_state=0).reset_index(drop=True)
    grid = [6.0, 12.0, 18.0, 24.0, 36.0, 48.0, 60.0, 72.0]
    by_duration = []
    for months in grid:
        frame = rows.copy()
        frame["duration_in_month"] = months
        by_duration.append(german_gbdt.score(frame)[0])
    matrix = np.vstack(by_duration)
    # Rounding the points of the other columns can move a score by one point.
    assert np.all(np.diff(matrix, axis=0) <= 1)
    assert (matrix[0] - matrix[-1]).mean() > 0


def test_unseen_categories_and_missing_values_score(german: Dataset, german_gbdt: Gbdt) -> None:
    frame = german.frame.head(3).copy()
    frame["purpose"] = ["spaceship", None, "car (new)"]
    frame["credit_amount"] = [np.nan, 1e9, -5.0]
    scores, points = german_gbdt.score(pd.DataFrame(frame))
    assert np.array_equal(scores, german_gbdt.base + points.sum(axis=1))
