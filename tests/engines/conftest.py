"""Fixtures of the engine tests: a local Spark session per test module, and the
challenge readings, chain and model.

pyspark and Java are required: when either is missing the fixture fails, it
does not skip.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from shape.chain import ChainStep, parse_chain_spec, seed_chain_steps
from shape.hooks.spark import start_session
from tests.conftest import PROJECT_ROOT

FEATURE_COLUMNS = ["vibration_x", "vibration_y", "vibration_z"]

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
    # Functions defined in test modules are pickled by reference, so the Python
    # workers must find `tests`. They start in the JVM's working folder, which
    # is a test project's when an earlier test's run started the JVM there.
    "spark.executorEnv.PYTHONPATH": str(PROJECT_ROOT),
}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """A local Spark session, stopped when the module's tests are done."""
    session = start_session(TEST_SPARK_CONF)
    if session is None:
        pytest.fail("A Spark session was left running by an earlier test")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def challenge_readings(challenge_dir: Path) -> pd.DataFrame:
    """The 295 real readings: time and the three vibration columns."""
    return pd.read_parquet(challenge_dir / "dataset.parquet")


@pytest.fixture(scope="session")
def challenge_steps(challenge_dir: Path) -> list[ChainStep]:
    """The challenge's chain spec, seeded as the preprocessing node seeds it."""
    return seed_chain_steps(parse_chain_spec(challenge_dir / "pipeline.jsonc"), 0)


@pytest.fixture(scope="session")
def challenge_model(challenge_dir: Path):
    """The challenge's fitted OneClassSVM."""
    with (challenge_dir / "model.pkl").open("rb") as stream:
        return pickle.load(stream)
