"""``SparkSessionHook``: one session for a sparkml run, none for a sklearn run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import MissingConfigException
from mlflow.tracking import MlflowClient
from pyspark import SparkContext

from tests.conftest import PROJECT_ROOT, run_kedro_cli, run_session
from tests.hooks.conftest import free_port

# A Python warning as the warnings module prints it: "file:line: SomeWarning: ...".
PYTHON_WARNING = re.compile(r"\b\w*Warning: ")


def _mlflow_runs(project: Path) -> list:
    """Every run in the project's local MLflow store."""
    tracking = MlflowClient(tracking_uri=f"sqlite:///{project}/mlruns/mlflow.db")
    experiments = [found.experiment_id for found in tracking.search_experiments()]
    return tracking.search_runs(experiments)


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


def test_no_session_starts_when_the_inputs_check_refuses_the_run(kedro_project):
    # The modelling pipeline alone lacks the in-memory model input table.
    with pytest.raises(ValueError, match=r"need 'model_input_table'"):
        run_session(
            kedro_project,
            runtime_params={"engine": "sparkml"},
            pipeline_names=["modelling"],
        )

    assert SparkContext._active_spark_context is None


def test_missing_spark_config_is_named(kedro_project):
    (kedro_project / "conf/base/spark.yml").unlink()

    with pytest.raises(MissingConfigException, match=r"conf/base/spark\.yml"):
        run_session(kedro_project, runtime_params={"engine": "sparkml"})


def test_driver_jvm_runs_with_the_project_java_options():
    # A child process, so that the JVM is a new one started by start_session
    # from the project's conf/base/spark.yml, whatever session this one holds.
    code = textwrap.dedent(
        """
        import json, re
        from shape.hooks.spark import start_session
        from shape.spark_archive import _project_spark_conf

        conf = _project_spark_conf()
        conf["spark.master"] = "local[1]"
        options = dict(
            re.findall(r"-XX:(\\w+)=(\\S+)", conf["spark.driver.extraJavaOptions"])
        )
        session = start_session(conf)
        jvm = session.sparkContext._jvm
        bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
            jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
        )
        in_effect = {
            name: [bean.getVMOption(name).getValue(),
                   bean.getVMOption(name).getOrigin().toString()]
            for name in options
        }
        session.stop()
        print(json.dumps({"configured": options, "in_effect": in_effect}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    # The JIT thresholds of conf/base/spark.yml, each set when the JVM started.
    configured = found["configured"]
    assert {
        "Tier4InvocationThreshold",
        "Tier4MinInvocationThreshold",
        "Tier4CompileThreshold",
        "Tier4BackEdgeThreshold",
    } <= set(configured)
    assert found["in_effect"] == {
        name: [value, "VM_CREATION"] for name, value in configured.items()
    }


@pytest.mark.parametrize(
    ("java_option", "env", "java_says"),
    [
        # A known option with a value Java refuses.
        ("-XX:Tier4InvocationThreshold=many", {}, "Improperly specified VM option"),
        ("", {"JAVA_HOME": "/nonexistent"}, "/nonexistent/bin/java"),
    ],
)
def test_a_jvm_that_does_not_start_is_explained(
    kedro_project, java_option, env, java_says
):
    spark_yml = kedro_project / "conf/base/spark.yml"
    last_option = "  -XX:Tier4BackEdgeThreshold=400000\n"
    text = spark_yml.read_text()
    assert last_option in text
    spark_yml.write_text(
        text.replace(last_option, f"{last_option.rstrip()} {java_option}\n")
    )

    result = run_kedro_cli(kedro_project, "run", "--params=engine=sparkml", env=env)

    assert result.returncode == 1
    assert java_says in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        "RuntimeError: The Spark driver's JVM exited before it started"
    )
    assert "conf/base/spark.yml" in last_line
    assert f"-XX:Tier4BackEdgeThreshold=400000 {java_option}".strip() in last_line
    assert not (kedro_project / "data/07_model_output/predictions.parquet").exists()
    # The session starts before kedro-mlflow opens the run: none was opened.
    assert _mlflow_runs(kedro_project) == []


def test_an_unreachable_master_is_named_before_any_jvm_starts(kedro_project):
    port = free_port()  # nothing listens there

    result = run_kedro_cli(
        kedro_project,
        "run",
        f"--params=engine=sparkml,spark_master=spark://127.0.0.1:{port}",
    )

    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        f"RuntimeError: The Spark master 'spark://127.0.0.1:{port}' (spark.master; "
        "set with --params=spark_master=spark://HOST:PORT"
    )
    assert f"accepts no connection: 127.0.0.1:{port}: Connection refused" in last_line
    assert "incubator" not in result.stderr  # Java never started
    assert _mlflow_runs(kedro_project) == []


def test_a_master_url_spark_does_not_know_is_named(kedro_project):
    result = run_kedro_cli(
        kedro_project, "run", "--params=engine=sparkml,spark_master=bogus"
    )

    assert result.returncode == 1
    assert "Master must either be yarn or start with spark" in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("RuntimeError: The Spark driver's JVM exited")
    assert "spark.master is 'bogus' (--params=spark_master=... sets it)" in last_line
