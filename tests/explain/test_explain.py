"""Reason codes stay within what can be gained; what-if and the plan equal real rescorings
of the lake with the actions' events ingested."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.dates import add_months
from pentascore.core.errors import ConfigError
from pentascore.core.types import Dimension
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import EventType
from pentascore.explain.actions import ACTIONS, RepairPolicy, action_events
from pentascore.explain.reasons import Reason, headroom, reasons
from pentascore.explain.whatif import Explainer, NotScoreable
from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.lake import ParquetLake
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.model.dataset import lake_dataset
from pentascore.model.registry import ModelRegistry
from pentascore.model.train import ModelKind, train
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import features_as_of, score_people, thin_files
from tests.conftest import KEY, NOW, ScoredHome


def _explainer(root: Path) -> Explainer:
    model, doc = ModelRegistry(root / "models").load()
    return Explainer(
        DuckDBEngine(threads=1),
        ParquetLake(root / "lake"),
        ScoreHistory(root / "scores"),
        model,
        doc.version,
    )


@pytest.fixture(scope="module")
def explainer(scored_home: ScoredHome) -> Explainer:
    return _explainer(scored_home.root)


def _ref(user: str) -> str:
    return pseudonymize_value(KEY, "user_id", user)


def _overdue_people(explainer: Explainer, home: ScoredHome) -> list[str]:
    refs = [_ref(u) for u in home.users[:120]]
    return [
        r
        for r in refs
        if any(
            e["type"] == "bill" and e["paid_ts"] is None and (e["days_past_due"] or 0) >= 1
            for e in explainer.events_of(r)
        )
    ]


INQUIRIES = {s.name for s in CATALOG if s.sources == (EventType.INQUIRY,)}


def _ranked_like_fico(found: list[Reason]) -> None:
    """Up to four reasons, largest loss first; inquiries as a fifth only when they cost points
    but are not among the four."""
    main = [r.points_lost for r in found[:4]]
    assert main == sorted(main, reverse=True)
    if len(found) == 5:
        assert found[4].feature in INQUIRIES
        assert not any(r.feature in INQUIRIES for r in found[:4])
        assert found[4].points_lost <= found[3].points_lost
    assert len(found) <= 5


def test_reasons_never_exceed_the_distance_to_the_best_score(
    explainer: Explainer, scored_home: ScoredHome
) -> None:
    sentences = {s.name: s.sentence for s in CATALOG}
    features = features_as_of(explainer.engine, explainer.lake, explainer.history, NOW)
    frame = features.select(explainer.model.feature_names).to_pandas()
    scores, _ = explainer.model.score(frame)
    lost = headroom(explainer.model, frame, frame)
    counted = 0
    for i in range(len(frame)):
        found = reasons(explainer.model, frame.iloc[i], lost[i])
        assert len(found) <= 5
        assert sum(r.points_lost for r in found) <= 950 - scores[i]
        _ranked_like_fico(found)
        for r in found:
            counted += 1
            assert r.points_lost > 0 and r.dimension is not Dimension.CONNECTIONS
            assert r.text.startswith(sentences[r.feature].split("{value}")[0])
    assert counted > len(frame)  # most people have reasons

    # One person end to end: the same score as a rescoring, the same reasons.
    user = _ref(scored_home.users[0])
    explained = explainer.explain(user, NOW)
    assert explained.score == explainer.score(user, NOW)["score"]
    row = features.column("user_id").to_pylist().index(user)
    assert explained.reasons == reasons(explainer.model, frame.iloc[row], lost[row])


def test_gbdt_reasons_never_exceed_the_distance_to_the_best_score(
    explainer: Explainer, scored_home: ScoredHome
) -> None:
    """The challenger's reasons: each feature moved alone to its best value, rescored."""
    earlier = scored_home.as_of - timedelta(days=180)
    data = lake_dataset(
        explainer.engine.features(explainer.lake, earlier),
        explainer.engine.labels(explainer.lake, earlier, scored_home.as_of),
        source="gbdt reasons",
    )
    gbdt = train(data, kind=ModelKind.GBDT, cv=2, repeats=1, seed=3).model
    features = features_as_of(explainer.engine, explainer.lake, explainer.history, NOW)
    frame = features.select(gbdt.feature_names).to_pandas()
    scores, _ = gbdt.score(frame)
    lost = headroom(gbdt, frame, frame)
    assert lost.shape == frame.shape and (lost >= 0).all()
    with_reasons = 0
    for i in range(len(frame)):
        found = reasons(gbdt, frame.iloc[i], lost[i])
        # Each on its own: the trees interact, so the losses need not add up.
        assert all(r.points_lost <= 950 - scores[i] for r in found)
        _ranked_like_fico(found)
        assert all(r.points_lost > 0 and r.dimension is not Dimension.CONNECTIONS for r in found)
        with_reasons += bool(found)
    assert with_reasons > len(frame) // 2
    # The points lost are real: the person rescored with that feature at one of the values
    # searched (33 quantiles of everyone's values) gains exactly that many.
    i = int(np.argmax(lost.sum(axis=1)))
    j = int(np.argmax(lost[i]))
    column = gbdt.feature_names[j]
    person = frame.iloc[[i]].copy()
    gains = []
    for value in np.unique(np.quantile(frame[column].dropna(), np.linspace(0, 1, 33))):
        person[column] = value
        gains.append(int(gbdt.score(person)[0][0]) - int(scores[i]))
    assert lost[i, j] > 0 and max(gains) == lost[i, j]


def _ingested(tmp_path: Path, home: ScoredHome, events: Any) -> Path:
    """A copy of the home with the action events really ingested into its lake."""
    root = tmp_path / "home"
    shutil.copytree(home.root, root)
    records = []
    for row in events.to_pylist():
        record = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in row.items()
            if v is not None and k not in ("batch_id", "ingested_at")
        }
        records.append(record)
    report = ingest_chunks(
        [records_chunk(records, "what-if")],
        lake=ParquetLake(root / "lake"),
        key=None,
        rejects_dir=root / "rejects",
        clock=FixedClock(NOW),
        strict=True,
    )
    assert report.accepted == len(records)
    return root


def _rescored(root: Path, user: str, at: datetime) -> int:
    model, doc = ModelRegistry(root / "models").load()
    table = score_people(
        DuckDBEngine(threads=1),
        ParquetLake(root / "lake"),
        ScoreHistory(root / "scores"),
        model,
        doc.version,
        at,
        [user],
    )
    return int(table.column("score")[0].as_py())


def test_what_if_equals_a_real_rescoring(
    explainer: Explainer, scored_home: ScoredHome, tmp_path: Path
) -> None:
    user = _overdue_people(explainer, scored_home)[0]
    names = ["repay_and_repair", "pay_utilities_6m", "verify_education"]
    predicted = explainer.what_if(user, NOW, names)
    assert predicted.months == 6 and predicted.low <= predicted.predicted <= predicted.high
    events = action_events(user, explainer.events_of(user), NOW, names)
    root = _ingested(tmp_path, scored_home, events)
    done = add_months(NOW, 6)
    assert _rescored(root, user, done) == predicted.predicted
    assert {_rescored(root, user, add_months(done, 1)), predicted.predicted} == {
        predicted.low,
        predicted.high,
    }


def test_the_plan_is_rescored_and_ranked(explainer: Explainer, scored_home: ScoredHome) -> None:
    user = _overdue_people(explainer, scored_home)[0]
    plan = explainer.plan(user, NOW)
    assert plan and [s.points for s in plan] == sorted((s.points for s in plan), reverse=True)
    for step in plan:
        assert step.points > 0 and step.action in ACTIONS
        done = add_months(NOW, step.months)
        extra = action_events(user, explainer.events_of(user), NOW, [step.action])
        gain = explainer.score(user, done, extra)["score"] - explainer.score(user, done)["score"]
        assert gain == step.points


def test_unknown_actions_and_unknown_people(explainer: Explainer) -> None:
    with pytest.raises(ConfigError, match="actions must be among"):
        explainer.what_if("0" * 32, NOW, ["win_the_lottery"])
    with pytest.raises(NotScoreable):
        explainer.explain("0" * 32, NOW)


def test_a_thin_file_is_not_explained_but_told_what_it_needs(
    explainer: Explainer, scored_home: ScoredHome
) -> None:
    thin = thin_files(explainer.engine, explainer.lake, NOW)
    assert thin
    with pytest.raises(NotScoreable, match="not enough data to score") as refused:
        explainer.explain(thin[0].user_id, NOW)
    assert refused.value.needs == thin[0].needs


def test_reaching_a_target_takes_the_fewest_plan_steps(
    explainer: Explainer, scored_home: ScoredHome
) -> None:
    user = _overdue_people(explainer, scored_home)[0]
    plan = explainer.plan(user, NOW)
    everything = explainer.what_if(user, NOW, [s.action for s in plan])
    now = explainer.score(user, NOW)["score"]
    target = now + 1
    reached = explainer.reach(user, NOW, target)
    if everything.predicted < target:
        assert reached is None
        return
    assert reached is not None and reached.predicted >= target
    k = len(reached.actions)
    assert reached.actions == [s.action for s in plan[:k]]
    if k > 1:  # one step fewer does not reach it
        assert explainer.what_if(user, NOW, reached.actions[:-1]).predicted < target
    assert explainer.reach(user, NOW, 951) is None


def test_what_if_repairs_only_what_the_policy_would_repair(
    explainer: Explainer, scored_home: ScoredHome
) -> None:
    user = _overdue_people(explainer, scored_home)[0]
    history = explainer.events_of(user)
    lenient = action_events(user, history, NOW, ["repay_and_repair"])
    assert lenient.num_rows >= 1
    strict = action_events(
        user, history, NOW, ["repay_and_repair"], policy=RepairPolicy(max_amount=0)
    )
    assert strict.num_rows == 0
    refusing = replace(explainer, repair_policy=RepairPolicy(max_amount=0))
    assert "repay_and_repair" not in {s.action for s in refusing.plan(user, NOW)}
