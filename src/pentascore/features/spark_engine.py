"""The distributed feature engine: Apache Spark (through PySpark) over the lake's Parquet files.

It runs the very query `pentascore.features.sql` renders for DuckDB, in the ``SPARK`` dialect,
and returns the same Arrow tables as `DuckDBEngine`. PySpark is an optional extra
(``pip install 'pentascore[spark]'``, which needs Java 17 or later) and is imported only when
a session is first needed, so this module imports without it. Spark runs in this process
(local mode) unless ``master`` names a cluster.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pentascore.core.errors import ConfigError
from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.catalog import CATALOG
from pentascore.features.engine import DEPTH_SCHEMA, SCORES_SCHEMA
from pentascore.features.spec import FeatureSpec
from pentascore.features.sql import SPARK, depth_sql, feature_sql, label_sql
from pentascore.lake.store import ParquetLake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LABELS_SCHEMA = pa.schema([pa.field("user_id", pa.string()), pa.field("bad", pa.int32())])

# Settings under which Spark computes what DuckDB computes, whatever a cluster's defaults:
# timestamps in UTC (``ts`` is stored as UTC instants in the proleptic Gregorian calendar, read
# as TIMESTAMP_LTZ, and the query's timestamp literals are UTC), ANSI SQL semantics, and no UI
# or console progress bars.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.mergeSchema": "false",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# Local mode: the driver stays on the loopback interface (works offline), few shuffle partitions.
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
}

_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")


def feature_schema(specs: Sequence[FeatureSpec]) -> pa.Schema:
    """The feature table's schema: ``user_id``, then one float64 column per feature."""
    return pa.schema(
        [pa.field("user_id", pa.string()), *(pa.field(s.name, pa.float64()) for s in specs)]
    )


class SparkEngine:
    """Computes features and labels with Apache Spark.

    Parameters
    ----------
    master : str (default="local[2]")
        Spark master URL: ``local[N]`` runs in this process with N threads; a cluster URL
        (``spark://host:7077``, ``yarn``, ``k8s://...``) needs every executor to see the lake at
        the same path.
    app_name : str (default="pentascore")
        The application's name, as the cluster shows it.
    conf : dict of str to str or None (default=None)
        More Spark settings, applied after pentascore's own (so they win).

    Notes
    -----
    The session starts on the first query (a few seconds: it starts a JVM) and is shared by
    every engine in the process, as Spark allows one per process; `stop` ends it.
    """

    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        app_name: str = "pentascore",
        conf: dict[str, str] | None = None,
    ) -> None:
        self.master = master
        self.app_name = app_name
        self.conf = dict(conf) if conf else {}
        self._session: SparkSession | None = None
        self._lock = threading.Lock()

    # --- session ---------------------------------------------------------------------------

    @property
    def session(self) -> SparkSession:
        """The Spark session, started on first use."""
        with self._lock:
            if self._session is None:
                self._session = self._start()
            return self._session

    def _start(self) -> SparkSession:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ConfigError(
                "engine 'spark' needs PySpark, which is not installed; install the spark "
                "extra: pip install 'pentascore[spark]'."
            ) from exc
        local = self.master.startswith("local")
        if local:
            # Spark looks the host's name up at start even when told to use the loopback
            # interface; this skips that (and its warning), so it also starts offline.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {**BASE_CONF, **(LOCAL_CONF if local else {}), **self.conf}
        builder: Any = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in settings.items():
            builder = builder.config(key, value)
        session: SparkSession = builder.getOrCreate()
        if local:
            session.sparkContext.setLogLevel("ERROR")
        return session

    def stop(self) -> None:
        """Stop the Spark session if this engine started one; a later query starts another."""
        with self._lock:
            if self._session is not None:
                self._session.stop()
                self._session = None

    # --- queries ---------------------------------------------------------------------------

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
        scores = previous_scores if previous_scores is not None else SCORES_SCHEMA.empty_table()
        spark = self.session
        tag = uuid.uuid4().hex  # views of their own, so that queries may run side by side
        lake_view, scores_view = f"lake_{tag}", f"previous_scores_{tag}"
        frame = self._lake_frame(spark, lake)
        if extra is not None:
            frame = frame.unionByName(spark.createDataFrame(extra.cast(LAKE_SCHEMA)))
        frame.createOrReplaceTempView(lake_view)
        scores = scores.select(["user_id", "score"]).cast(SCORES_SCHEMA)
        spark.createDataFrame(scores).createOrReplaceTempView(scores_view)
        try:
            sql = feature_sql(
                SPARK, specs, as_of, lake=lake_view, previous_scores=scores_view, users=users
            )
            return _to_arrow(spark.sql(sql), feature_schema(specs))
        finally:
            spark.catalog.dropTempView(lake_view)
            spark.catalog.dropTempView(scores_view)

    def labels(self, lake: ParquetLake, as_of: datetime, until: datetime) -> pa.Table:
        """One row per person with an event before ``as_of``: ``bad`` (0/1) in (as_of, until]."""
        spark = self.session
        lake_view = f"lake_{uuid.uuid4().hex}"
        self._lake_frame(spark, lake).createOrReplaceTempView(lake_view)
        try:
            sql = label_sql(SPARK, as_of, until, lake=lake_view)
            return _to_arrow(spark.sql(sql), LABELS_SCHEMA)
        finally:
            spark.catalog.dropTempView(lake_view)

    def depth(
        self, lake: ParquetLake, as_of: datetime, users: Sequence[str] | None = None
    ) -> pa.Table:
        """Each person's oldest and latest own event before ``as_of``, as ages in days."""
        spark = self.session
        lake_view = f"lake_{uuid.uuid4().hex}"
        self._lake_frame(spark, lake).createOrReplaceTempView(lake_view)
        try:
            sql = depth_sql(SPARK, as_of, lake=lake_view, users=users)
            return _to_arrow(spark.sql(sql), DEPTH_SCHEMA)
        finally:
            spark.catalog.dropTempView(lake_view)

    def _lake_frame(self, spark: SparkSession, lake: ParquetLake) -> DataFrame:
        """The lake's committed files as a DataFrame of `LAKE_SCHEMA` (empty for no files)."""
        empty = spark.createDataFrame(LAKE_SCHEMA.empty_table())
        files = lake.files()
        if not files:
            return empty
        # The schema is given, not inferred from the files' footers; paths are read as globs,
        # so their special characters are escaped.
        return spark.read.schema(empty.schema).parquet(*(_spark_path(f) for f in files))


def _spark_path(path: Path) -> str:
    return "file://" + _GLOB_CHARS.sub(r"\\\1", str(path.resolve()))


def _to_arrow(frame: DataFrame, schema: pa.Schema) -> pa.Table:
    return frame.toArrow().select(schema.names).cast(schema)
