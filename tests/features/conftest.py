from __future__ import annotations

from collections.abc import Iterator

import pytest

from pentascore.features.spark_engine import SparkEngine

# Tests run many short queries on small lakes, where the JVM's optimizing compiler costs more
# than it saves: the quick one alone roughly halves the time of the first queries. It changes
# how fast the JVM runs, never what the queries compute.
TEST_CONF = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkEngine]:
    """One Spark engine in local mode for the whole test session (a session takes seconds to
    start). Tests that use it are marked ``spark`` and skipped where Java is missing."""
    engine = SparkEngine(master="local[2]", app_name="pentascore-tests", conf=TEST_CONF)
    yield engine
    engine.stop()
