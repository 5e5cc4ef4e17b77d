"""The embedded feature engine: DuckDB over the lake's Parquet files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.catalog import CATALOG
from pentascore.features.engine import DEPTH_SCHEMA, SCORES_SCHEMA, DepthRule, TableFunction
from pentascore.features.spec import FeatureSpec
from pentascore.features.sql import DUCKDB, deep_feature_sql, depth_sql, feature_sql, label_sql
from pentascore.lake.store import ParquetLake


class DuckDBEngine:
    """Computes features and labels with DuckDB.

    Parameters
    ----------
    threads : int or None (default=None)
        DuckDB worker threads; None lets DuckDB use every core.
    memory_limit : str or None (default=None)
        DuckDB memory limit such as ``"4GB"``; beyond it, work spills to disk.
    """

    name = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit

    def _connect(
        self, lake: ParquetLake, extra: pa.Table | None = None
    ) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        if self.threads is not None:
            con.execute(f"SET threads = {int(self.threads)}")
        if self.memory_limit is not None:
            con.execute("SET memory_limit = ?", [self.memory_limit])
        # ``lake_events``: the lake alone; ``lake``: with the extra events.
        con.execute(f"CREATE VIEW lake_events AS SELECT * FROM {lake.events_sql(con)}")
        relation = "SELECT * FROM lake_events"
        if extra is not None:
            con.register("extra_events", extra.cast(LAKE_SCHEMA))
            relation += " UNION ALL BY NAME SELECT * FROM extra_events"
        con.execute(f"CREATE VIEW lake AS {relation}")
        return con

    def features(
        self,
        lake: ParquetLake,
        as_of: datetime,
        specs: Sequence[FeatureSpec] = CATALOG,
        previous_scores: pa.Table | None = None,
        users: Sequence[str] | None = None,
        extra: pa.Table | None = None,
    ) -> pa.Table:
        """One row per person with an event before ``as_of`` (of ``users``, when given), one
        column per feature; ``extra`` events count as if they were in the lake."""
        con = self._connect(lake, extra)
        try:
            scores = previous_scores if previous_scores is not None else SCORES_SCHEMA.empty_table()
            con.register("previous_scores", scores.select(["user_id", "score"]))
            return con.sql(feature_sql(DUCKDB, specs, as_of, users=users)).to_arrow_table()
        finally:
            con.close()

    def map_features(
        self,
        lake: ParquetLake,
        as_of: datetime,
        fn: TableFunction,
        schema: pa.Schema,
        *,
        depth: DepthRule | None = None,
        specs: Sequence[FeatureSpec] = CATALOG,
        previous_scores: pa.Table | None = None,
        users: Sequence[str] | None = None,
        extra: pa.Table | None = None,
    ) -> pa.Table:
        """``fn`` applied to the features of the people whose file passes ``depth`` (on the
        lake without ``extra``), in this process, in one call: a table of ``schema``."""
        con = self._connect(lake, extra)
        try:
            scores = previous_scores if previous_scores is not None else SCORES_SCHEMA.empty_table()
            con.register("previous_scores", scores.select(["user_id", "score"]))
            sql = (
                feature_sql(DUCKDB, specs, as_of, users=users)
                if depth is None
                else deep_feature_sql(
                    DUCKDB,
                    specs,
                    as_of,
                    min_file_age_days=depth.min_file_age_days,
                    max_quiet_days=depth.max_quiet_days,
                    depth_lake="lake_events",
                    users=users,
                )
            )
            features = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return fn(features).select(schema.names).cast(schema)

    def map_table(
        self, path: Path, fn: TableFunction, schema: pa.Schema, users: pa.Array
    ) -> pa.Table:
        """``fn`` applied in this process, in one call, to the rows of ``users`` at ``path``."""
        table = pq.read_table(path)
        table = table.filter(pc.is_in(table.column("user_id"), value_set=users))
        return fn(table).select(schema.names).cast(schema).sort_by("user_id")

    def labels(self, lake: ParquetLake, as_of: datetime, until: datetime) -> pa.Table:
        """One row per person with an event before ``as_of``: ``bad`` (0/1) in (as_of, until]."""
        con = self._connect(lake)
        try:
            return con.sql(label_sql(DUCKDB, as_of, until)).to_arrow_table()
        finally:
            con.close()

    def depth(
        self, lake: ParquetLake, as_of: datetime, users: Sequence[str] | None = None
    ) -> pa.Table:
        """Each person's oldest and latest own event before ``as_of``, as ages in days."""
        con = self._connect(lake)
        try:
            table = con.sql(depth_sql(DUCKDB, as_of, users=users)).to_arrow_table()
            return table.cast(DEPTH_SCHEMA)
        finally:
            con.close()
