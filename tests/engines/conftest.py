"""Fixtures of the engine tests: one local Spark session per test module.

pyspark and Java are required: when either is missing the fixture fails, it
does not skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from shape.hooks.spark import start_session
from tests.conftest import PROJECT_ROOT

#: Two cores and few shuffle partitions keep the tests quick on a small machine.
TEST_SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.app.name": "shape-tests",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.debug.maxToStringFields": "1000",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "WARN",
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile="
    + str(PROJECT_ROOT / "conf/base/spark-log4j2.properties"),
}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """A local Spark session, stopped when the module's tests are done."""
    session = start_session(TEST_SPARK_CONF)
    if session is None:
        pytest.fail("A Spark session was left running by an earlier test")
    yield session
    session.stop()
