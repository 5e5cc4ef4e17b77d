"""The monthly run: same scores as the one-shot path, resumable after a crash at any stage,
idempotent when run again, and redone from the first input that changed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from pentascore.core.clock import FixedClock
from pentascore.core.errors import ModelError
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.model.registry import ModelRegistry
from pentascore.model.train import Model
from pentascore.scores.history import ScoreHistory
from pentascore.scores.monthly import (
    STAGES,
    MonthlyInputs,
    MonthlyRun,
    _exclusive,
    read_manifest,
    run_month,
)
from pentascore.scores.run import score_people
from pentascore.scores.snapshots import FeatureSnapshots
from pentascore.service.db import Database, PublishedScore
from pentascore.service.published import publish
from tests.conftest import ScoredHome


class Crash(Exception):
    """Stands for the process being killed."""


@dataclass
class Home:
    root: Path
    lake: ParquetLake
    model: Model
    version: str
    database: Database
    clock: FixedClock
    exports: list[int] = field(default_factory=list)
    publishes: list[int] = field(default_factory=list)

    @property
    def inputs(self) -> MonthlyInputs:
        return MonthlyInputs(
            lake=self.lake,
            history=ScoreHistory(self.root / "scores"),
            snapshots=FeatureSnapshots(self.root / "features"),
            runs_dir=self.root / "runs",
        )

    def run(
        self,
        at: datetime,
        on_stage: Callable[[str, str], None] | None = None,
        publisher: Callable[[pa.Table], int] | None = None,
        model: tuple[Model, str] | None = None,
    ) -> MonthlyRun:
        def exporter() -> int:
            self.exports.append(1)
            return 0

        def publisher_(scores: pa.Table) -> int:
            self.publishes.append(scores.num_rows)
            return publish(self.database, scores, self.clock.now())

        chosen, version = model or (self.model, self.version)
        return run_month(
            at,
            engine=DuckDBEngine(threads=1),
            inputs=self.inputs,
            model=chosen,
            version=version,
            export_inquiries=exporter,
            publish=publisher or publisher_,
            clock=self.clock,
            on_stage=on_stage,
        )

    def published(self) -> list[tuple[str, int]]:
        with self.database.session() as session:
            rows = session.execute(
                sa.select(PublishedScore.user_ref, PublishedScore.score).order_by(
                    PublishedScore.user_ref
                )
            ).all()
        return [(r.user_ref, r.score) for r in rows]


@pytest.fixture
def home(scored_home: ScoredHome, tmp_path: Path) -> Home:
    root = tmp_path / "home"
    root.mkdir()
    # A lake of its own (tests add batches to it); models are read only.
    shutil.copytree(scored_home.root / "lake", root / "lake")
    model, doc = ModelRegistry(scored_home.root / "models").load()
    database = Database(f"sqlite:///{root / 'state.db'}")
    database.upgrade()
    return Home(
        root,
        ParquetLake(root / "lake"),
        model,
        doc.version,
        database,
        FixedClock(scored_home.as_of),
    )


@pytest.fixture(scope="module")
def reference(scored_home: ScoredHome, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The scores of the one-shot path (`score_people`) on a history with no earlier run."""
    model, doc = ModelRegistry(scored_home.root / "models").load()
    history = ScoreHistory(tmp_path_factory.mktemp("empty-history"))
    return score_people(
        DuckDBEngine(threads=1),
        ParquetLake(scored_home.root / "lake"),
        history,
        model,
        doc.version,
        scored_home.as_of,
    )


def test_a_run_scores_snapshots_and_publishes_what_the_one_shot_path_scores(
    home: Home, scored_home: ScoredHome, reference: pa.Table
) -> None:
    run = home.run(scored_home.as_of)
    assert [s.name for s in run.stages] == list(STAGES)
    assert all(s.ran for s in run.stages)
    history = home.inputs.history.read(scored_home.as_of.date(), home.version)
    assert history.equals(reference)
    assert run.summary["scored"] == reference.num_rows
    snapshot = home.inputs.snapshots.read(scored_home.as_of.date())
    # The snapshot keeps everyone with an event, thin files too; only deep files are scored.
    assert run.summary["thin_files"] == snapshot.num_rows - reference.num_rows > 0
    assert set(reference.column("user_id").to_pylist()) < set(
        snapshot.column("user_id").to_pylist()
    )
    assert home.published() == sorted(
        zip(
            reference.column("user_id").to_pylist(),
            reference.column("score").to_pylist(),
            strict=True,
        )
    )
    manifest = read_manifest(home.root / "runs", scored_home.as_of.date())
    assert manifest is not None and set(manifest["stages"]) == {"features", "scores", "publish"}


def test_run_again_after_success_redoes_nothing_but_the_inquiry_export(
    home: Home, scored_home: ScoredHome
) -> None:
    first = home.run(scored_home.as_of)
    again = home.run(scored_home.as_of)
    assert {s.name: s.ran for s in again.stages} == {
        "inquiries": True,
        "features": False,
        "scores": False,
        "publish": False,
    }
    assert again.summary == first.summary
    assert len(home.exports) == 2
    assert len(home.publishes) == 1


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("moment", ["start", "done"])
def test_killed_at_any_stage_the_run_again_finishes_with_the_same_result(
    home: Home, scored_home: ScoredHome, reference: pa.Table, stage: str, moment: str
) -> None:
    def kill(name: str, event: str) -> None:
        if (name, event) == (stage, moment):
            raise Crash(f"killed at the {moment} of {stage}")

    with pytest.raises(Crash):
        home.run(scored_home.as_of, on_stage=kill)
    run = home.run(scored_home.as_of)
    # Stages recorded before the crash are not redone; the one it stopped in and later are.
    order = STAGES.index(stage)
    ran = {s.name: s.ran for s in run.stages}
    for name in STAGES[1:]:
        finished_before = STAGES.index(name) < order or (name == stage and moment == "done")
        assert ran[name] is not finished_before, name
    assert home.inputs.history.read(scored_home.as_of.date(), home.version).equals(reference)
    assert len(home.published()) == reference.num_rows
    assert home.inputs.history.runs() == [(scored_home.as_of.date(), home.version)]


def test_a_crash_after_the_publish_committed_publishes_again_without_duplicates(
    home: Home, scored_home: ScoredHome, reference: pa.Table
) -> None:
    def committed_then_killed(scores: pa.Table) -> int:
        publish(home.database, scores, home.clock.now())
        raise Crash("killed before the manifest recorded the publication")

    with pytest.raises(Crash):
        home.run(scored_home.as_of, publisher=committed_then_killed)
    assert len(home.published()) == reference.num_rows
    run = home.run(scored_home.as_of)
    assert [s.name for s in run.stages if s.ran] == ["inquiries", "publish"]
    assert len(home.published()) == reference.num_rows


def test_a_new_batch_in_the_lake_redoes_the_features_and_what_follows(
    home: Home, scored_home: ScoredHome
) -> None:
    home.run(scored_home.as_of)
    user = scored_home.scores.column("user_id")[0].as_py()
    late = scored_home.as_of - timedelta(days=3)
    # A bill reported late, dated before the as-of date: it changes that person's features.
    ingest_chunks(
        [
            records_chunk(
                [
                    {
                        "event_id": "late-bill-1",
                        "user_id": user,
                        "type": "bill",
                        "ts": late.isoformat(),
                        "account_id": "late-card",
                        "product": "credit_card",
                        "amount": 12000,
                        "currency": "CNY",
                        "due_ts": (late - timedelta(days=40)).isoformat(),
                        "paid_ts": late.isoformat(),
                        "days_past_due": 40,
                    }
                ],
                "late reports",
            )
        ],
        lake=home.lake,
        key=None,
        rejects_dir=home.root / "rejects",
        clock=home.clock,
        strict=True,
    )
    run = home.run(scored_home.as_of)
    assert all(s.ran for s in run.stages)
    assert len(home.publishes) == 2
    assert len(home.published()) == run.summary["scored"]


def test_another_model_rescores_from_the_same_snapshot(
    home: Home, scored_home: ScoredHome, tmp_path: Path
) -> None:
    home.run(scored_home.as_of)
    challenger = (home.model, "challenger-v2")
    run = home.run(scored_home.as_of, model=challenger)
    assert {s.name: s.ran for s in run.stages} == {
        "inquiries": True,
        "features": False,
        "scores": True,
        "publish": True,
    }
    assert home.inputs.history.runs() == sorted(
        [(scored_home.as_of.date(), home.version), (scored_home.as_of.date(), "challenger-v2")]
    )


def test_next_month_reads_this_months_scores_for_friends(
    home: Home, scored_home: ScoredHome
) -> None:
    home.run(scored_home.as_of)
    later = scored_home.as_of + timedelta(days=30)
    run = home.run(later)
    assert run.summary["scored"] > 0
    assert [d for d, _ in home.inputs.history.runs()] == [
        scored_home.as_of.date(),
        later.date(),
    ]
    friends = home.inputs.snapshots.read(later.date()).column("cn_friends_mean_score")
    assert friends.null_count < len(friends)


def test_a_second_run_of_the_same_month_at_once_is_refused(
    home: Home, scored_home: ScoredHome
) -> None:
    folder = home.root / "runs" / f"as_of={scored_home.as_of.date().isoformat()}"
    with _exclusive(folder), pytest.raises(ModelError, match="in progress"):
        home.run(scored_home.as_of)
