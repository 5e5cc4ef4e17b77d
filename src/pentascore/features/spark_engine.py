"""The distributed feature engine: Apache Spark (through PySpark) over the lake's Parquet files.

It runs the very query `pentascore.features.sql` renders for DuckDB, in the ``SPARK`` dialect,
and returns the same Arrow tables as `DuckDBEngine`. `map_features` runs a function of the
features (scoring) on the executors too, through ``mapInArrow``, so the feature table never
reaches the driver. PySpark is an optional extra (``pip install 'pentascore[spark]'``, which
needs Java 17 or later) and is imported only when a session is first needed, so this module
imports without it. Spark runs in this process (local mode) unless ``master`` names a cluster
or the process was started by ``spark-submit`` (docs/spark.md).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import ConfigError
from pentascore.events.schema import LAKE_SCHEMA
from pentascore.features.catalog import CATALOG
from pentascore.features.engine import DEPTH_SCHEMA, SCORES_SCHEMA, DepthRule, TableFunction
from pentascore.features.spec import FeatureSpec
from pentascore.features.sql import SPARK, deep_feature_sql, depth_sql, feature_sql, label_sql
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
    master : str or None (default=None)
        Spark master URL: ``local[N]`` runs in this process with N threads; a cluster URL
        (``spark://host:7077``, ``yarn``, ``k8s://...``) needs every executor to see the lake at
        the same path, and pentascore installed (docs/spark.md). None takes the master
        ``spark-submit`` was given when it started this process, and ``local[2]`` otherwise.
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
        master: str | None = None,
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
        master = self.master or _submitted_master() or "local[2]"
        local = master.startswith("local")
        if local:
            # Spark looks the host's name up at start even when told to use the loopback
            # interface; this skips that (and its warning), so it also starts offline.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            # Python workers (map_features) run this interpreter, which has pentascore, rather
            # than the first python3 on PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings = {**BASE_CONF, **(LOCAL_CONF if local else {}), **self.conf}
        builder: Any = SparkSession.builder.master(master).appName(self.app_name)
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
        with self._views(lake, extra, previous_scores) as (lake_view, _, scores_view):
            sql = feature_sql(
                SPARK, specs, as_of, lake=lake_view, previous_scores=scores_view, users=users
            )
            return _to_arrow(self.session.sql(sql), feature_schema(specs))

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
        """``fn`` applied on the executors to the features of the people whose file passes
        ``depth`` (on the lake without ``extra``): only its output, a table of ``schema``
        ordered by ``user_id``, comes back to the driver (as Arrow)."""
        frame = self.map_features_frame(
            lake,
            as_of,
            fn,
            schema,
            depth=depth,
            specs=specs,
            previous_scores=previous_scores,
            users=users,
            extra=extra,
        )
        return _to_arrow(frame, schema).sort_by("user_id")

    def map_features_frame(
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
    ) -> DataFrame:
        """What `map_features` collects, as a DataFrame nothing has run yet, in no
        particular order: ``.write.parquet(url)`` writes it from the executors, for outputs too
        big for the driver."""
        from pyspark.sql.pandas.types import from_arrow_schema

        spark = self.session
        with self._views(lake, extra, previous_scores) as (lake_view, depth_view, scores_view):
            if depth is None:
                sql = feature_sql(
                    SPARK, specs, as_of, lake=lake_view, previous_scores=scores_view, users=users
                )
            else:
                sql = deep_feature_sql(
                    SPARK,
                    specs,
                    as_of,
                    min_file_age_days=depth.min_file_age_days,
                    max_quiet_days=depth.max_quiet_days,
                    lake=lake_view,
                    depth_lake=depth_view,
                    previous_scores=scores_view,
                    users=users,
                    ordered=False,  # the driver sorts what it collects: no shuffle for it here
                )
            # The plan is resolved here, so the views may go once this returns.
            features = spark.sql(sql)
        with warnings.catch_warnings():
            # mapInArrow goes through pandas_udf, which warns on pandas 3 for its pandas
            # conversions; batches here stay Arrow, so they do not apply.
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            return features.mapInArrow(
                _BatchMap(fn, feature_schema(specs), schema),
                from_arrow_schema(schema, prefer_timestamp_ntz=False),
            )

    def map_table(
        self, path: Path, fn: TableFunction, schema: pa.Schema, users: pa.Array
    ) -> pa.Table:
        """``fn`` applied on the executors to the rows of ``users`` in the Parquet file at
        ``path`` (on a cluster, on a file system every executor sees at the same path): only
        its output comes back, ordered by ``user_id``."""
        from pyspark.sql.pandas.types import from_arrow_schema

        spark = self.session
        table = spark.read.parquet(_spark_path(path))
        chosen = spark.createDataFrame(pa.table({"user_id": pa.array(users, pa.string())}))
        chosen_rows = table.join(chosen, "user_id", "left_semi")
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            mapped = chosen_rows.mapInArrow(
                _BatchMap(fn, pq.read_schema(path), schema),
                from_arrow_schema(schema, prefer_timestamp_ntz=False),
            )
        return _to_arrow(mapped, schema).sort_by("user_id")

    @contextmanager
    def _views(
        self, lake: ParquetLake, extra: pa.Table | None, previous_scores: pa.Table | None
    ) -> Iterator[tuple[str, str, str]]:
        """Temporary views of the lake with ``extra``, of the lake alone, and of last run's
        scores, under names of their own (queries may run side by side); dropped after."""
        spark = self.session
        tag = uuid.uuid4().hex
        lake_view, depth_view, scores_view = f"lake_{tag}", f"lake_only_{tag}", f"scores_{tag}"
        frame = self._lake_frame(spark, lake)
        frame.createOrReplaceTempView(depth_view)
        if extra is not None:
            frame = frame.unionByName(spark.createDataFrame(extra.cast(LAKE_SCHEMA)))
        frame.createOrReplaceTempView(lake_view)
        scores = previous_scores if previous_scores is not None else SCORES_SCHEMA.empty_table()
        scores = scores.select(["user_id", "score"]).cast(SCORES_SCHEMA)
        spark.createDataFrame(scores).createOrReplaceTempView(scores_view)
        try:
            yield lake_view, depth_view, scores_view
        finally:
            for view in (lake_view, depth_view, scores_view):
                spark.catalog.dropTempView(view)

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


@dataclass(frozen=True)
class _BatchMap:
    """``fn`` over ``mapInArrow``'s batches on an executor: each batch read as a feature
    table of ``features``, each result given as batches of ``out``. Pickled with ``fn``."""

    fn: TableFunction
    features: pa.Schema
    out: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            features = pa.Table.from_batches([batch]).select(self.features.names)
            table = self.fn(features.cast(self.features))
            yield from table.select(self.out.names).cast(self.out).to_batches()


def _submitted_master() -> str | None:
    """The master ``spark-submit`` was given, when it started this process (it then hands
    the Python driver its running JVM's port); None otherwise."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    master: str | None = SparkConf().get("spark.master", None)
    return master


def _spark_path(path: Path) -> str:
    return "file://" + _GLOB_CHARS.sub(r"\\\1", str(path.resolve()))


def _to_arrow(frame: DataFrame, schema: pa.Schema) -> pa.Table:
    return frame.toArrow().select(schema.names).cast(schema)
