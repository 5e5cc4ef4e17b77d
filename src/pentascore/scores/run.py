"""Scoring people from the lake: the one path the batch run and a person's refresh share.

Thin files are not scored. Like FICO's minimum scoring criteria, a person is scored only when
their file has a record at least 6 months old (`MIN_FILE_AGE_DAYS`) and some activity of
their own in the last 6 months (`MAX_QUIET_DAYS`; partners' score reads do not count). Anyone
else gets "not enough data to score" and what would make them scoreable, rather than a
number that would mostly reflect the model's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyarrow as pa

from pentascore.features.engine import SCORES_SCHEMA, FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.train import Model
from pentascore.scores.batch import score_table
from pentascore.scores.history import ScoreHistory


def features_as_of(
    engine: FeatureEngine,
    lake: ParquetLake,
    history: ScoreHistory,
    at: datetime,
    users: Sequence[str] | None = None,
    extra: pa.Table | None = None,
) -> pa.Table:
    """The catalogue's features as of ``at`` (of ``users``, when given; ``extra`` events read
    as if in the lake), with the last earlier score run's scores feeding the friends'-score
    feature."""
    previous = history.latest_before(at.date())
    return engine.features(
        lake,
        at,
        previous_scores=None
        if previous is None
        else previous.select(["user_id", "score"]).cast(SCORES_SCHEMA),
        users=users,
        extra=extra,
    )


MIN_FILE_AGE_DAYS = 183
MAX_QUIET_DAYS = 183


@dataclass(frozen=True)
class ThinFile:
    """Why a person is not scored as of ``at``, and what would change that."""

    user_id: str
    file_age_days: float
    last_activity_days: float
    at: datetime

    @property
    def needs(self) -> list[str]:
        out = []
        if self.file_age_days < MIN_FILE_AGE_DAYS:
            ready = (self.at + timedelta(days=MIN_FILE_AGE_DAYS - self.file_age_days)).date()
            out.append(
                f"your oldest record is {int(self.file_age_days)} days old; a file needs one "
                f"at least {MIN_FILE_AGE_DAYS} days old, which yours will be on {ready}."
            )
        if self.last_activity_days > MAX_QUIET_DAYS:
            out.append(
                f"nothing of yours has happened in the last {MAX_QUIET_DAYS} days: any "
                "repayment, payment or bill from now on makes your file current."
            )
        return out

    @property
    def scoreable_on(self) -> date | None:
        """When the file will be old enough, if age is all it lacks."""
        if self.last_activity_days > MAX_QUIET_DAYS:
            return None
        return (self.at + timedelta(days=max(0.0, MIN_FILE_AGE_DAYS - self.file_age_days))).date()


def thin_files(
    engine: FeatureEngine, lake: ParquetLake, at: datetime, users: Sequence[str] | None = None
) -> list[ThinFile]:
    """Everyone (or each of ``users``) with events before ``at`` whose file is too thin."""
    depth = engine.depth(lake, at, users).to_pylist()
    return [
        ThinFile(d["user_id"], d["file_age_days"], d["last_activity_days"], at)
        for d in depth
        if d["file_age_days"] < MIN_FILE_AGE_DAYS or d["last_activity_days"] > MAX_QUIET_DAYS
    ]


def score_people(
    engine: FeatureEngine,
    lake: ParquetLake,
    history: ScoreHistory,
    model: Model,
    version: str,
    at: datetime,
    users: Sequence[str] | None = None,
    extra: pa.Table | None = None,
) -> pa.Table:
    """Scores as of ``at`` of everyone in the lake, or of ``users``, but thin files: a
    `SCORE_SCHEMA` table, empty when none of them is scoreable. ``extra`` events count in
    the features, not in the thin-file rule."""
    features = features_as_of(engine, lake, history, at, users, extra)
    deep = {
        d["user_id"]
        for d in engine.depth(lake, at, users).to_pylist()
        if d["file_age_days"] >= MIN_FILE_AGE_DAYS and d["last_activity_days"] <= MAX_QUIET_DAYS
    }
    # Only people whose own current records make a deep enough file: not those with nothing
    # but partners' reads, nor those whose records were all voided.
    keep = [u in deep for u in features.column("user_id").to_pylist()]
    return score_table(model, version, features.filter(pa.array(keep, pa.bool_())), at.date())
