"""``SparkSessionHook``: one session for a sparkml run, none for a sklearn run."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from kedro.config import MissingConfigException
from pyspark import SparkContext

from tests.conftest import run_kedro_cli, run_session

# A Python warning as the warnings module prints it: "file:line: SomeWarning: ...".
PYTHON_WARNING = re.compile(r"\b\w*Warning: ")


def test_sklearn_run_starts_no_jvm(kedro_project):
    # With JAVA_HOME pointing nowhere, any attempt to start Spark would fail.
    result = run_kedro_cli(kedro_project, "run", env={"JAVA_HOME": "/nonexistent"})

    assert result.returncode == 0, result.stderr
    assert "Spark" not in result.stderr
    assert not PYTHON_WARNING.search(result.stderr), result.stderr


def test_sparkml_run_prints_no_python_warning(kedro_project):
    result = run_kedro_cli(kedro_project, "run", "--params=engine=sparkml")

    assert result.returncode == 0, result.stderr
    assert not PYTHON_WARNING.search(result.stderr), result.stderr
    assert "Started Spark" in result.stderr
    assert "Stopped the Spark session" in result.stderr
    assert "Scored 295 rows: 31 anomalies" in result.stderr


def test_session_is_stopped_when_a_node_fails(kedro_project):
    readings = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    readings.astype({"vibration_y": str}).to_parquet(
        kedro_project / "data/01_raw/text.parquet", index=False
    )

    with pytest.raises(TypeError, match=r"Column 'vibration_y' must hold numbers"):
        run_session(
            kedro_project,
            runtime_params={
                "engine": "sparkml",
                "input_path": "data/01_raw/text.parquet",
            },
        )

    assert SparkContext._active_spark_context is None


def test_no_session_starts_when_parameters_are_refused(kedro_project):
    with pytest.raises(ValueError, match=r"Parameter 'fit_on' must be one of"):
        run_session(
            kedro_project, runtime_params={"engine": "sparkml", "fit_on": "all"}
        )

    assert SparkContext._active_spark_context is None


def test_missing_spark_config_is_named(kedro_project):
    (kedro_project / "conf/base/spark.yml").unlink()

    with pytest.raises(MissingConfigException, match=r"conf/base/spark\.yml"):
        run_session(kedro_project, runtime_params={"engine": "sparkml"})
