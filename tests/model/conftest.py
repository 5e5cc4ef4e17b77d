"""Models fitted once per session on the German credit data (../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import strategies as st

from pentascore.model.dataset import Dataset, Kind, shipped_mapping_path, table_dataset
from pentascore.model.gbdt import Gbdt, fit_gbdt
from pentascore.model.scorecard import Allocation, Scorecard, ScorecardFit, allocate, fit_scorecard

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def needs_data(name: str) -> Path:
    """The data set file ``name``. Missing, it fails the test where the data must be (CI sets
    PENTASCORE_REQUIRE_DATA=1 in .ci/run) and is skipped, visibly, on a clone elsewhere."""
    path = DATA / name
    if not path.exists():
        message = f"{path} is missing: the public credit data sets live in ../shared/data"
        if os.environ.get("PENTASCORE_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def german() -> Dataset:
    needs_data("german_credit/germancredit.csv.gz")
    data, _ = table_dataset(shipped_mapping_path("german"))
    return data


@pytest.fixture(scope="session")
def german_fit(german: Dataset) -> ScorecardFit:
    return fit_scorecard(german, seed=1)


@pytest.fixture(scope="session")
def german_scorecard(german: Dataset, german_fit: ScorecardFit) -> Scorecard:
    return allocate(german_fit, german, Allocation.PUBLISHED)


@pytest.fixture(scope="session")
def german_learned(german: Dataset, german_fit: ScorecardFit) -> Scorecard:
    return allocate(german_fit, german, Allocation.LEARNED)


@pytest.fixture(scope="session")
def german_gbdt(german: Dataset) -> Gbdt:
    return fit_gbdt(german, seed=1)


def _rows(data: Dataset) -> st.SearchStrategy[pd.DataFrame]:
    """Rows mixing real values, missing values, unseen categories and out-of-range numbers."""
    columns = {}
    for c in data.columns:
        seen = data.frame[c.name].dropna().unique().tolist()
        if c.kind is Kind.NUMERIC:
            columns[c.name] = st.one_of(
                st.sampled_from(seen), st.floats(-1e6, 1e6), st.just(float("nan"))
            )
        else:
            columns[c.name] = st.one_of(st.sampled_from(seen), st.just(None), st.just("unseen"))
    row = st.fixed_dictionaries(columns)
    return st.lists(row, min_size=1, max_size=30).map(
        lambda rows: pd.DataFrame(rows, columns=[c.name for c in data.columns])
    )


@pytest.fixture(scope="session")
def any_rows(german: Dataset) -> st.SearchStrategy[pd.DataFrame]:
    return _rows(german)
