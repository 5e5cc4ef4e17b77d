"""The feature engine interface, and the engines by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from pentascore.core.errors import ConfigError
from pentascore.features.spec import FeatureSpec
from pentascore.lake.store import ParquetLake

# Last run's scores, which the connections features read (friends' mean score).
SCORES_SCHEMA = pa.schema([pa.field("user_id", pa.string()), pa.field("score", pa.float64())])
# How deep each person's file is (the thin-file rule, `scores.run`).
DEPTH_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("file_age_days", pa.float64()),
        pa.field("last_activity_days", pa.float64()),
    ]
)


# A function of a feature table (``user_id`` and one float64 column per feature, any subset of
# the people) to a table with a row per person; it must be row-wise, as an engine may call it
# on batches of people, in other processes (Spark pickles it to its executors).
TableFunction = Callable[[pa.Table], pa.Table]


@dataclass(frozen=True)
class DepthRule:
    """Whose file is deep enough (the thin-file rule, `scores.run`): a current record of
    their own at least ``min_file_age_days`` old, and one at most ``max_quiet_days`` old."""

    min_file_age_days: float
    max_quiet_days: float


class FeatureEngine(Protocol):
    """Computes the catalogue's point-in-time features and the outcome labels from a lake.

    Every engine runs the same query from `pentascore.features.sql`, rendered in its dialect,
    and returns the same Arrow table: ``user_id`` then one float64 column per feature, a row
    per person with an event before ``as_of``, ordered by ``user_id``. ``extra`` (a
    `LAKE_SCHEMA` table) is read as if it were in the lake: hypothetical events for a what-if.
    """

    name: str

    def features(
        self,
        lake: ParquetLake,
        as_of: datetime,
        specs: Sequence[FeatureSpec] = ...,
        previous_scores: pa.Table | None = None,
        users: Sequence[str] | None = None,
        extra: pa.Table | None = None,
    ) -> pa.Table: ...

    def labels(self, lake: ParquetLake, as_of: datetime, until: datetime) -> pa.Table: ...

    def depth(
        self, lake: ParquetLake, as_of: datetime, users: Sequence[str] | None = None
    ) -> pa.Table:
        """`DEPTH_SCHEMA`: each person's oldest and latest own event before ``as_of``."""
        ...

    def map_features(
        self,
        lake: ParquetLake,
        as_of: datetime,
        fn: TableFunction,
        schema: pa.Schema,
        *,
        depth: DepthRule | None = None,
        specs: Sequence[FeatureSpec] = ...,
        previous_scores: pa.Table | None = None,
        users: Sequence[str] | None = None,
        extra: pa.Table | None = None,
    ) -> pa.Table:
        """``fn`` applied, where the engine computes them, to the features `features` gives
        (same arguments) of the people whose file passes ``depth`` (judged on the lake alone,
        without ``extra``): a table of ``schema``, which starts with ``user_id``, ordered by
        it. Only ``fn``'s output comes back, never the feature table."""
        ...

    def map_table(
        self, path: Path, fn: TableFunction, schema: pa.Schema, users: pa.Array
    ) -> pa.Table:
        """``fn`` applied, where the engine computes, to the rows of ``users`` in the feature
        table saved at ``path`` (a Parquet file `features` wrote, readable by the engine's
        workers): a table of ``schema`` ordered by ``user_id``."""
        ...


def _duckdb(options: dict[str, str]) -> FeatureEngine:
    from pentascore.features.duckdb_engine import DuckDBEngine

    return DuckDBEngine(memory_limit=options.get("memory_limit") or None)


def _spark(options: dict[str, str]) -> FeatureEngine:
    from pentascore.features.spark_engine import SparkEngine

    return SparkEngine(master=options.get("master") or None)


ENGINES: dict[str, Callable[[dict[str, str]], FeatureEngine]] = {
    "duckdb": _duckdb,
    "spark": _spark,
}


def make_engine(name: str, **options: str) -> FeatureEngine:
    """The engine called ``name`` (duckdb, spark), built with ``options``."""
    if name not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}.")
    return ENGINES[name](options)
