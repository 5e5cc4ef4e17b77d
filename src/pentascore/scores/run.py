"""Scoring people from the lake: the one path the batch run and a person's refresh share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
    """Scores as of ``at`` of everyone in the lake, or of ``users``: a `SCORE_SCHEMA` table,
    empty when none of them has an event before ``at``."""
    features = features_as_of(engine, lake, history, at, users, extra)
    return score_table(model, version, features, at.date())
