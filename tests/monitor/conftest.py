"""A small simulated home with four monthly runs (scores and feature snapshots)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pentascore.core.dates import add_months
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import features_as_of, score_people
from pentascore.scores.snapshots import FeatureSnapshots
from pentascore.sim import SimulationConfig, simulate
from tests.conftest import KEY, ScoredHome

# Months of the runs relative to the simulation's as-of date (2025-10-01): its events run
# 12 months past it, so the first three vintages have matured and the last has not.
RUN_MONTHS = (-2, -1, 0, 1)


@dataclass(frozen=True)
class MonitoredHome:
    root: Path
    truth: Path  # the simulation's truth/users.parquet: raw user ids, sex, birth_year ...
    dates: list[date]
    model: str


@pytest.fixture(scope="session")
def monitored_home(
    tmp_path_factory: pytest.TempPathFactory, scored_home: ScoredHome
) -> MonitoredHome:
    """A copy of the session's scored home (its lake, champion and run as of 2025-10-01)
    with runs two and one months before it and one month after, and a feature snapshot for
    each of the four dates."""
    root = tmp_path_factory.mktemp("monitored-home")
    for part in ("lake", "models", "scores"):
        shutil.copytree(scored_home.root / part, root / part)
    # The same simulation as the scored home's, for its ground truth (demographics).
    population = simulate(SimulationConfig(users=400, months=12, seed=11))
    truth = root / "truth" / "users.parquet"
    truth.parent.mkdir()
    pq.write_table(population.users, truth)
    lake = ParquetLake(root / "lake")
    engine = DuckDBEngine(threads=1)
    registry = ModelRegistry(root / "models")
    model, doc = registry.load()
    history = ScoreHistory(root / "scores")
    snapshots = FeatureSnapshots(root / "features")
    dates = []
    for months in RUN_MONTHS:
        at = add_months(scored_home.as_of, months)
        snapshots.write(at.date(), features_as_of(engine, lake, history, at))
        if months != 0:
            history.write(score_people(engine, lake, history, model, doc.version, at))
        dates.append(at.date())
    return MonitoredHome(root=root, truth=truth, dates=dates, model=doc.version)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose home pseudonymizes with the test key, as the scored home's lake."""
    monkeypatch.setenv("PENTASCORE_PSEUDONYM_KEY", KEY.decode())
    return CliRunner()
