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
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pentascore.features.catalog import CATALOG
from pentascore.features.engine import SCORES_SCHEMA, DepthRule, FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.train import Model
from pentascore.scores.batch import SCORE_SCHEMA, require_columns, score_table
from pentascore.scores.history import ScoreHistory

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from pentascore.features.spark_engine import SparkEngine


def last_scores(history: ScoreHistory, at: datetime) -> pa.Table | None:
    """The last score run before ``at``'s scores (``SCORES_SCHEMA``), which feed the
    friends'-score feature; None before the first run."""
    previous = history.latest_before(at.date())
    return None if previous is None else previous.select(["user_id", "score"]).cast(SCORES_SCHEMA)


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
    return engine.features(
        lake, at, previous_scores=last_scores(history, at), users=users, extra=extra
    )


MIN_FILE_AGE_DAYS = 183
MAX_QUIET_DAYS = 183
# What a thin file needs, by `ThinFile.missing`'s codes.
NEEDS = {
    "young": (
        "your oldest record is {age_days} days old; a file needs one at least {min_days} days "
        "old, which yours will be on {ready}."
    ),
    "quiet": (
        "nothing of yours has happened in the last {days} days: any repayment, payment or bill "
        "from now on makes your file current."
    ),
}
# Who is scored: the rule `thin_files` tells the others about.
DEEP_FILE = DepthRule(min_file_age_days=MIN_FILE_AGE_DAYS, max_quiet_days=MAX_QUIET_DAYS)


@dataclass(frozen=True)
class ThinFile:
    """Why a person is not scored as of ``at``, and what would change that."""

    user_id: str
    file_age_days: float
    last_activity_days: float
    at: datetime

    @property
    def missing(self) -> list[tuple[str, dict[str, Any]]]:
        """What the file lacks, as (code, parameters): ``young`` (``age_days``, ``min_days``,
        ``ready``: the date it is old enough) and ``quiet`` (``days``)."""
        out: list[tuple[str, dict[str, Any]]] = []
        if self.file_age_days < MIN_FILE_AGE_DAYS:
            ready = (self.at + timedelta(days=MIN_FILE_AGE_DAYS - self.file_age_days)).date()
            age = int(self.file_age_days)
            out.append(("young", {"age_days": age, "min_days": MIN_FILE_AGE_DAYS, "ready": ready}))
        if self.last_activity_days > MAX_QUIET_DAYS:
            out.append(("quiet", {"days": MAX_QUIET_DAYS}))
        return out

    @property
    def needs(self) -> list[str]:
        """`missing`, in English sentences."""
        return [NEEDS[code].format(**params) for code, params in self.missing]

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


@dataclass(frozen=True)
class Scorer:
    """`score_table` with its model, version and date fixed: the function of a feature table
    an engine applies where the features are (Spark pickles it, model and all, to its
    executors, which import this module to run it)."""

    model: Model
    version: str
    as_of: date

    def __post_init__(self) -> None:
        # Checked where the scorer is made, before any engine work, not on an executor.
        require_columns(self.model, [s.name for s in CATALOG])

    def __call__(self, features: pa.Table) -> pa.Table:
        return score_table(self.model, self.version, features, self.as_of)


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
    `SCORE_SCHEMA` table ordered by ``user_id``, empty when none of them is scoreable.
    ``extra`` events count in the features, not in the thin-file rule.

    The engine computes the features, keeps the deep files and scores them where it computed
    them (on Spark, on the executors: only the scores come back)."""
    return engine.map_features(
        lake,
        at,
        Scorer(model, version, at.date()),
        SCORE_SCHEMA,
        depth=DEEP_FILE,
        previous_scores=last_scores(history, at),
        users=users,
        extra=extra,
    )


def score_frame(
    engine: SparkEngine,
    lake: ParquetLake,
    history: ScoreHistory,
    model: Model,
    version: str,
    at: datetime,
    users: Sequence[str] | None = None,
    extra: pa.Table | None = None,
) -> DataFrame:
    """`score_people`'s scores on Spark as a DataFrame nothing has run yet (in no particular
    order): ``score_frame(...).write.parquet(url)`` writes them from the executors, for runs
    whose scores should not pass through the driver."""
    return engine.map_features_frame(
        lake,
        at,
        Scorer(model, version, at.date()),
        SCORE_SCHEMA,
        depth=DEEP_FILE,
        previous_scores=last_scores(history, at),
        users=users,
        extra=extra,
    )
