"""What-if and the improvement plan: real rescorings of the lake with hypothetical events.

Every number here comes from `scores.run.score_people`, the batch's own path, reading the
lake plus the actions' events: nothing is guessed from coefficients.

- ``what_if``: the score once the actions have happened (``predicted``, as of the month the
  last one completes), and a range over that month and the next, as records age.
- ``plan``: each action the person can take, with the points it adds over doing nothing by
  the same date, best first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from pentascore.core.dates import add_months
from pentascore.core.errors import ConfigError
from pentascore.core.types import Dimension
from pentascore.explain.actions import ACTIONS, RepairPolicy, Rows, action_events
from pentascore.explain.reasons import Reason, headroom, reasons
from pentascore.features.engine import FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.train import Model
from pentascore.scores.batch import score_table
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import ThinFile, features_as_of, thin_files


class NotScoreable(ConfigError):
    """The person cannot be scored: no events, or a thin file (``needs`` says what would
    make them scoreable)."""

    def __init__(self, message: str, thin: ThinFile | None = None) -> None:
        super().__init__(message)
        self.thin = thin
        self.needs = thin.needs if thin is not None else []


@dataclass(frozen=True)
class WhatIf:
    score_now: int
    predicted: int
    low: int
    high: int
    months: int
    actions: list[str]


@dataclass(frozen=True)
class Step:
    action: str
    text: str
    points: int
    months: int


@dataclass(frozen=True)
class Explanation:
    score: int
    band: str
    as_of: str
    model: str
    dimensions: dict[str, int]
    reasons: list[Reason]
    plan: list[Step]


@dataclass(frozen=True)
class Explainer:
    engine: FeatureEngine
    lake: ParquetLake
    history: ScoreHistory
    model: Model
    version: str
    repair_policy: RepairPolicy = field(default_factory=RepairPolicy)

    def events_of(self, user: str) -> Rows:
        """The person's current events (corrections applied), oldest first."""
        with duckdb.connect() as con:
            relation = self.lake.events_sql(con, current=True)
            table = con.sql(
                f"SELECT * FROM {relation} WHERE user_id = $user ORDER BY ts, event_id",
                params={"user": user},
            ).to_arrow_table()
        rows: Rows = table.to_pylist()
        return rows

    def check_scoreable(self, user: str, at: datetime) -> None:
        """Raises `NotScoreable` for a thin file, with what would make it scoreable."""
        thin = thin_files(self.engine, self.lake, at, [user])
        if thin:
            raise NotScoreable("not enough data to score: " + " ".join(thin[0].needs), thin[0])

    def _features(self, user: str, at: datetime, extra: pa.Table | None) -> pa.Table:
        return features_as_of(self.engine, self.lake, self.history, at, [user], extra)

    def score(self, user: str, at: datetime, extra: pa.Table | None = None) -> dict[str, Any]:
        scored = score_table(self.model, self.version, self._features(user, at, extra), at.date())
        if scored.num_rows == 0:
            raise NotScoreable(f"there are no events about this person before {at:%Y-%m-%d}.")
        row: dict[str, Any] = scored.to_pylist()[0]
        return row

    def what_if(self, user: str, at: datetime, names: list[str]) -> WhatIf:
        unknown = [n for n in names if n not in ACTIONS]
        if unknown or not names:
            raise ConfigError(
                f"actions must be among {', '.join(ACTIONS)}; got {', '.join(unknown) or 'none'}."
            )
        self.check_scoreable(user, at)
        now = self.score(user, at)["score"]
        extra = action_events(user, self.events_of(user), at, names, policy=self.repair_policy)
        months = max(ACTIONS[n].months for n in names)
        done = add_months(at, months)
        after = [self.score(user, t, extra)["score"] for t in (done, add_months(done, 1))]
        return WhatIf(
            score_now=now,
            predicted=after[0],
            low=min(after),
            high=max(after),
            months=months,
            actions=names,
        )

    def plan(self, user: str, at: datetime) -> list[Step]:
        """Each action with what it adds over doing nothing by the same date, best first;
        actions that add nothing (or do not apply) are left out."""
        history = self.events_of(user)
        steps = []
        for action in ACTIONS.values():
            extra = action_events(user, history, at, [action.name], policy=self.repair_policy)
            if extra.num_rows == 0:
                continue
            done = add_months(at, action.months)
            gain = self.score(user, done, extra)["score"] - self.score(user, done)["score"]
            if gain > 0:
                steps.append(Step(action.name, action.text, int(gain), action.months))
        return sorted(steps, key=lambda s: (-s.points, s.months, s.action))

    def reach(self, user: str, at: datetime, target: int) -> WhatIf | None:
        """The shortest best-first prefix of the plan whose combined what-if reaches
        ``target`` (greedy: a later step alone might do too); None when the whole plan does
        not."""
        taken: list[str] = []
        for step in self.plan(user, at):
            taken.append(step.action)
            result = self.what_if(user, at, taken)
            if result.predicted >= target:
                return result
        return None

    def explain(self, user: str, at: datetime, *, connections: bool = False) -> Explanation:
        self.check_scoreable(user, at)
        features = self._features(user, at, None)
        scored = score_table(self.model, self.version, features, at.date())
        if scored.num_rows == 0:
            raise NotScoreable(f"there are no events about this person before {at:%Y-%m-%d}.")
        row = scored.to_pylist()[0]
        frame = features.select(self.model.feature_names).to_pandas()
        reference = (
            frame
            if self.model.kind == "scorecard"
            else features_as_of(self.engine, self.lake, self.history, at)
            .select(self.model.feature_names)
            .to_pandas()
        )
        lost = headroom(self.model, frame, reference)[0]
        return Explanation(
            score=row["score"],
            band=row["band"],
            as_of=at.date().isoformat(),
            model=self.version,
            dimensions={d.value: row[d.value] for d in Dimension},
            reasons=reasons(self.model, frame.iloc[0], lost, connections=connections),
            plan=self.plan(user, at),
        )
