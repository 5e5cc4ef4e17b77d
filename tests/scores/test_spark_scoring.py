"""Scoring on Spark gives the DuckDB path's scores, row for row.

`score_people` hands the engine the scoring function: DuckDB applies it to its feature table
in this process; Spark keeps the features and the thin-file join in Spark and applies the
very same function on its executors (``mapInArrow``), so only the scores come back. On the
scored home's lake, for a scorecard and a GBDT model, both paths must give equal tables:
the same people in the same order, and the same score, band, base, points of every dimension
and radar values. Spark runs in local mode, in the one session the whole test session
shares (`spark` fixture in tests/conftest.py); these tests are skipped without Java.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pentascore.core.errors import ModelError
from pentascore.core.types import Dimension
from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.features.spark_engine import SparkEngine
from pentascore.lake import ParquetLake
from pentascore.model.dataset import lake_dataset
from pentascore.model.gbdt import fit_gbdt
from pentascore.model.registry import ModelRegistry
from pentascore.model.scorecard import Scorecard
from pentascore.model.train import Model
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import score_frame, score_people, thin_files
from tests.conftest import ScoredHome, needs_java


class Home:
    def __init__(self, scored_home: ScoredHome) -> None:
        self.lake = ParquetLake(scored_home.root / "lake")
        # Read only: it holds the batch run as of ``as_of``, which feeds the friends'-score
        # feature of any later date.
        self.history = ScoreHistory(scored_home.root / "scores")
        self.as_of = scored_home.as_of


@pytest.fixture(scope="module")
def home(scored_home: ScoredHome) -> Home:
    return Home(scored_home)


@pytest.fixture(scope="module")
def models(home: Home, scored_home: ScoredHome) -> dict[str, Model]:
    """The home's champion (a scorecard), and a GBDT fitted on the same features."""
    scorecard, _ = ModelRegistry(scored_home.root / "models").load()
    assert isinstance(scorecard, Scorecard)
    engine = DuckDBEngine(threads=1)
    earlier = home.as_of - timedelta(days=180)
    data = lake_dataset(
        engine.features(home.lake, earlier),
        engine.labels(home.lake, earlier, home.as_of),
        source="spark scoring tests",
    )
    return {"scorecard": scorecard, "gbdt": fit_gbdt(data, seed=5)}


def assert_same_scores(want: pa.Table, got: pa.Table) -> None:
    assert got.schema == want.schema == SCORE_SCHEMA
    assert got.column("user_id").to_pylist() == want.column("user_id").to_pylist()
    for name in SCORE_SCHEMA.names[1:]:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


@pytest.mark.spark
@needs_java
@pytest.mark.parametrize("kind", ["scorecard", "gbdt"])
def test_spark_scores_equal_duckdb(
    kind: str, home: Home, models: dict[str, Model], spark: SparkEngine
) -> None:
    model, version = models[kind], f"{kind}-test"
    duckdb = DuckDBEngine(threads=1)
    # 45 days after the home's run, which feeds the friends'-score feature.
    at = home.as_of + timedelta(days=45)
    assert home.history.latest_before(at.date()) is not None
    want = score_people(duckdb, home.lake, home.history, model, version, at)
    assert want.num_rows > 200
    assert len(set(want.column("band").to_pylist())) > 2
    dimensions = [want.column(d.value).to_pylist() for d in Dimension]
    assert sum(len(set(points)) > 1 for points in dimensions) >= 3
    got = score_people(spark, home.lake, home.history, model, version, at)
    assert_same_scores(want, got)
    # Thin files are left out on both paths.
    thin = {t.user_id for t in thin_files(duckdb, home.lake, at)}
    assert thin and not thin & set(got.column("user_id").to_pylist())


@pytest.mark.spark
@needs_java
def test_chosen_people_with_extra_events_on_spark(
    home: Home, models: dict[str, Model], spark: SparkEngine
) -> None:
    duckdb, model = DuckDBEngine(threads=1), models["scorecard"]
    at = home.as_of + timedelta(days=40)
    everyone = score_people(duckdb, home.lake, home.history, model, "v", at)
    deep = everyone.column("user_id").to_pylist()[:6]
    thin = [t.user_id for t in thin_files(duckdb, home.lake, at)][:2]
    people = [*thin, *deep, "nobody"]
    # Hypothetical events: a bill of each of these people, 90 days past due and unpaid,
    # reported ten days before the date. The thin files' bills count in the features, not in
    # the thin-file rule: they stay thin.
    reported = at - timedelta(days=10)
    extra = pa.Table.from_pylist(
        [
            {
                "event_id": f"extra-{i}",
                "user_id": user,
                "type": "bill",
                "account_id": f"extra-account-{i}",
                "product": "credit_card",
                "amount": 5000,
                "currency": "CNY",
                "due_ts": reported - timedelta(days=90),
                "days_past_due": 90,
                "ts": reported,
                "batch_id": "extra",
                "ingested_at": reported,
            }
            for i, user in enumerate(people)
        ],
        schema=LAKE_SCHEMA,
    )
    chosen = score_people(duckdb, home.lake, home.history, model, "v", at, users=people)
    assert chosen.column("user_id").to_pylist() == sorted(deep)
    want = score_people(duckdb, home.lake, home.history, model, "v", at, people, extra)
    assert want.column("user_id").to_pylist() == sorted(deep)
    # The overdue bills cost them points.
    pairs = list(zip(want["score"].to_pylist(), chosen["score"].to_pylist(), strict=True))
    assert all(a <= b for a, b in pairs) and sum(a < b for a, b in pairs) >= len(deep) // 2
    assert_same_scores(
        want, score_people(spark, home.lake, home.history, model, "v", at, people, extra)
    )


@pytest.mark.spark
@needs_java
def test_spark_writes_the_scores_from_the_executors(
    tmp_path: Path, home: Home, models: dict[str, Model], spark: SparkEngine
) -> None:
    model, at = models["gbdt"], home.as_of
    frame = score_frame(spark, home.lake, home.history, model, "g", at)
    out = tmp_path / "scores"
    frame.write.parquet(out.as_uri())
    written = pq.read_table(out).sort_by("user_id").select(SCORE_SCHEMA.names).cast(SCORE_SCHEMA)
    assert_same_scores(
        score_people(DuckDBEngine(threads=1), home.lake, home.history, model, "g", at), written
    )


def test_a_model_of_other_columns_fails_before_any_engine_work(
    home: Home, models: dict[str, Model]
) -> None:
    scorecard = models["scorecard"]
    assert isinstance(scorecard, Scorecard)
    first = scorecard.tables[0]
    renamed = replace(first, column=replace(first.column, name="no_such_feature"))
    other = replace(scorecard, tables=(renamed, *scorecard.tables[1:]))
    # An engine that is never asked anything: the check comes first.
    engine = SparkEngine(master="spark://nowhere.invalid:7077")
    with pytest.raises(ModelError, match="no_such_feature"):
        score_people(engine, home.lake, home.history, other, "x", home.as_of)


@pytest.mark.spark
@needs_java
def test_the_monthly_run_on_spark_publishes_the_duckdb_runs_scores(
    home: Home, scored_home: ScoredHome, spark: SparkEngine, tmp_path: Path
) -> None:
    """`run-month --engine spark`: features on Spark into the snapshot, scores on the
    executors from it; the score file and what is published equal the DuckDB run's."""
    from pentascore.core.clock import FixedClock
    from pentascore.scores.monthly import MonthlyInputs, run_month
    from pentascore.scores.snapshots import FeatureSnapshots

    model, doc = ModelRegistry(scored_home.root / "models").load()
    later = home.as_of + timedelta(days=30)
    runs = {}
    for name, engine in (("duckdb", DuckDBEngine(threads=1)), ("spark", spark)):
        root = tmp_path / name
        published: list[pa.Table] = []
        history = ScoreHistory(root / "scores")
        # The same earlier run feeds both runs' friends'-score feature.
        history.write(home.history.read(home.as_of.date(), doc.version))
        run_month(
            later,
            engine=engine,
            inputs=MonthlyInputs(
                lake=home.lake,
                history=history,
                snapshots=FeatureSnapshots(root / "features"),
                runs_dir=root / "runs",
            ),
            model=model,
            version=doc.version,
            export_inquiries=lambda: 0,
            publish=lambda scores, kept=published: kept.append(scores) or scores.num_rows,
            clock=FixedClock(later),
        )
        runs[name] = (history.read(later.date(), doc.version), published)
    (want, published_want), (got, published_got) = runs["duckdb"], runs["spark"]
    assert want.num_rows > 100
    assert_same_scores(want, got)
    assert (
        [t.num_rows for t in published_want]
        == [t.num_rows for t in published_got]
        == [got.num_rows]
    )
    assert_same_scores(published_want[0], published_got[0])
