"""The scorecard on real data: exact decomposition, bounds, monotone points, allocation, and
pinned cross-validated metrics on German credit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pentascore.core.errors import ConfigError
from pentascore.core.types import DEFAULT_WEIGHTS, Dimension
from pentascore.features.spec import Direction
from pentascore.model.dataset import Dataset, table_dataset
from pentascore.model.scorecard import C_GRID, Scorecard, ScorecardFit
from pentascore.model.train import ModelKind, radar, train
from tests.model.conftest import DATA


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_score_is_base_plus_points_within_350_950(
    data: st.DataObject,
    any_rows: st.SearchStrategy[pd.DataFrame],
    german_scorecard: Scorecard,
    german_learned: Scorecard,
) -> None:
    frame = data.draw(any_rows)
    for model in (german_scorecard, german_learned):
        scores, points = model.score(frame)
        assert np.array_equal(scores, model.base + points.sum(axis=1))
        assert scores.min() >= 350 and scores.max() <= 950
        assert points.min() >= 0


def test_the_ends_of_the_scale_are_attainable(german_scorecard: Scorecard) -> None:
    assert german_scorecard.base == 350
    assert german_scorecard.base + sum(german_scorecard.dimension_max().values()) == 950
    for table in german_scorecard.tables:
        assert min(table.points) == 0


def test_points_are_monotone_along_constrained_columns(german_scorecard: Scorecard) -> None:
    constrained = [
        t for t in german_scorecard.tables if t.column.direction is not Direction.UNKNOWN
    ]
    assert constrained, "the German mapping constrains some columns"
    for table in constrained:
        regular = np.array(table.points[: table.n_bins - 2])
        steps = np.diff(regular)
        if table.column.direction is Direction.INCREASES_RISK:
            assert np.all(steps <= 0), (table.column.name, regular)
        else:
            assert np.all(steps >= 0), (table.column.name, regular)


def test_points_follow_each_columns_evidence(german_fit: ScorecardFit) -> None:
    """Inside a column, a riskier bin (lower weight of evidence) never gets more points than a
    safer one, and bins of equal evidence get equal points, whatever the other columns."""
    assert german_fit.c in C_GRID
    for table, points in zip(german_fit.tables, german_fit.raw_points(), strict=True):
        woe = np.asarray(table.woe)
        assert np.ptp(points) > 0, table.column.name
        for a in range(table.n_bins):
            for b in range(table.n_bins):
                if woe[a] < woe[b]:
                    assert points[a] <= points[b] + 1e-9, (table.column.name, a, b)
                elif woe[a] == woe[b]:
                    assert points[a] == pytest.approx(points[b], abs=1e-9), table.column.name


def test_published_allocation_gives_each_dimension_its_weight(
    german_scorecard: Scorecard,
) -> None:
    best = german_scorecard.dimension_max()
    present = {
        d for d in Dimension if any(t.column.dimension == d for t in german_scorecard.tables)
    }
    total = sum(DEFAULT_WEIGHTS[d] for d in present)
    for d in Dimension:
        expected = 600 * DEFAULT_WEIGHTS[d] / total if d in present else 0
        # Each column's best points are rounded once: at most one point per column off.
        columns = sum(t.column.dimension == d for t in german_scorecard.tables)
        assert abs(best[d] - expected) <= max(columns, 1), (d, best[d], expected)


def test_learned_allocation_follows_the_regression(german_learned: Scorecard) -> None:
    best = german_learned.dimension_max()
    for d in Dimension:
        assert abs(best[d] / 600 - german_learned.learned_shares[d]) < 0.01


def test_german_metrics_are_pinned(german: Dataset) -> None:
    """A silent regression in binning, regression or scaling moves these numbers."""
    result = train(german, kind=ModelKind.SCORECARD, cv=5, repeats=1, seed=2026)
    learned, published = result.metrics["learned"], result.metrics["published"]
    assert learned["auc"] == pytest.approx(0.786, abs=0.01)
    assert published["auc"] == pytest.approx(0.761, abs=0.01)
    assert learned["ks"] == pytest.approx(0.483, abs=0.03)
    assert learned["brier"] == pytest.approx(0.169, abs=0.01)
    assert learned["bands_monotone"]
    assert result.data["rows"] == 1000 and result.data["bads"] == 300


def _mapping(tmp_path: Path, dimensions: str) -> Path:
    path = tmp_path / "map.yaml"
    table = DATA / "german_credit" / "germancredit.csv.gz"
    path.write_text(
        f"table: {table}\ntarget: creditability\nbad: bad\n"
        "drop: [personal_status_and_sex]\n" + dimensions
    )
    return path


def test_a_column_in_no_dimension_is_named(tmp_path: Path, german: Dataset) -> None:
    names = [c.name for c in german.columns]
    listed = ", ".join(names[1:])
    path = _mapping(tmp_path, f"dimensions:\n  credit_history: [{listed}]\n")
    with pytest.raises(ConfigError, match=f"column '{names[0]}' is in no dimension"):
        table_dataset(path)


def test_a_column_in_two_dimensions_is_named(tmp_path: Path, german: Dataset) -> None:
    names = [c.name for c in german.columns]
    listed = ", ".join(names)
    path = _mapping(
        tmp_path,
        f"dimensions:\n  credit_history: [{listed}]\n  connections: [{names[2]}]\n",
    )
    with pytest.raises(ConfigError, match=f"column '{names[2]}' is in two dimensions"):
        table_dataset(path)


def test_radar_runs_from_no_points_to_the_best_attainable(german_scorecard: Scorecard) -> None:
    best = german_scorecard.dimension_max()
    points = {d: np.array([0, best[d] // 2, best[d]]) for d in Dimension}
    on_radar = radar(german_scorecard, points)
    for d in Dimension:
        if best[d] > 0:
            assert list(on_radar[d]) == [0, round(100 * (best[d] // 2) / best[d]), 100]
