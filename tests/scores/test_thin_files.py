"""The thin-file rule on the simulator's people: newcomers are not scored until their file is
six months old, and are told when that will be."""

from __future__ import annotations

from datetime import timedelta

from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.scores.run import MAX_QUIET_DAYS, MIN_FILE_AGE_DAYS, thin_files
from tests.conftest import ScoredHome


def test_new_accounts_are_thin_files(scored_home: ScoredHome) -> None:
    engine, lake, at = (
        DuckDBEngine(threads=1),
        ParquetLake(scored_home.root / "lake"),
        scored_home.as_of,
    )
    thin = {t.user_id: t for t in thin_files(engine, lake, at)}
    scored = set(scored_home.scores.column("user_id").to_pylist())
    depth = {d["user_id"]: d for d in engine.depth(lake, at).to_pylist()}
    assert thin and scored and not (thin.keys() & scored)
    assert thin.keys() | scored == depth.keys()  # everyone with events is one or the other
    newcomers = {u for u, t in scored_home.joined.items() if at - t < timedelta(days=150)}
    veterans = {u for u, t in scored_home.joined.items() if at - t > timedelta(days=220)}
    assert newcomers & depth.keys() and newcomers & depth.keys() <= thin.keys()
    assert len(veterans & thin.keys()) < 0.05 * len(veterans & depth.keys())
    for user, file in thin.items():
        assert file.needs
        young = depth[user]["file_age_days"] < MIN_FILE_AGE_DAYS
        quiet = depth[user]["last_activity_days"] > MAX_QUIET_DAYS
        assert young or quiet
        if young and not quiet:
            assert file.scoreable_on is not None and file.scoreable_on > at.date()
            assert str(file.scoreable_on) in file.needs[0]


def test_thin_files_of_chosen_people(scored_home: ScoredHome) -> None:
    engine, lake, at = (
        DuckDBEngine(threads=1),
        ParquetLake(scored_home.root / "lake"),
        scored_home.as_of,
    )
    everyone = thin_files(engine, lake, at)
    some = [t.user_id for t in everyone[:3]] + ["0" * 32]
    assert thin_files(engine, lake, at, some) == everyone[:3]
