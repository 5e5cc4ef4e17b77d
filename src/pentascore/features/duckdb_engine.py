"""The embedded feature engine: DuckDB over the lake's Parquet files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.catalog import CATALOG
from pentascore.features.engine import DEPTH_SCHEMA, SCORES_SCHEMA
from pentascore.features.spec import FeatureSpec
from pentascore.features.sql import DUCKDB, depth_sql, feature_sql, label_sql
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
        relation = f"SELECT * FROM {lake.events_sql(con)}"
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
