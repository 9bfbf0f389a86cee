"""Whole runs with ``engine=sparkml``: local, against the sklearn engine, on a cluster.

Spark does not keep row order when it reads back a folder of part files, so the
predictions are put in time order (time is unique in these tables) before they
are compared row by row.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyspark
import pytest

from shape.synthetic import generate_readings
from tests.conftest import run_session
from tests.test_runs import assert_matches_expected

PREDICTIONS = "data/07_model_output/predictions.parquet"


def _read_predictions(project: Path) -> pd.DataFrame:
    predictions = pd.read_parquet(project / PREDICTIONS)
    return predictions.sort_values("time", kind="stable").reset_index(drop=True)


def _assert_matches_expected(predictions: pd.DataFrame, expected: pd.DataFrame):
    assert_matches_expected(predictions, expected)
    assert (predictions["prediction"] == -1).sum() == 31


def test_sparkml_run_matches_expected_predictions(kedro_project, expected_predictions):
    run_session(kedro_project, runtime_params={"engine": "sparkml"})

    # Spark wrote a folder of part files; pandas reads it whole.
    assert (kedro_project / PREDICTIONS).is_dir()
    _assert_matches_expected(_read_predictions(kedro_project), expected_predictions)
    metrics = json.loads((kedro_project / "data/08_reporting/metrics.json").read_text())
    assert metrics["engine"] == "sparkml"
    assert (metrics["rows"], metrics["anomalies"]) == (295, 31)


def test_reference_chain_scores_100k_rows_alike_in_both_engines(
    kedro_project, challenge_dir
):
    source = pd.read_parquet(challenge_dir / "dataset.parquet")
    generate_readings(100_000, seed=2026, source=source).to_parquet(
        kedro_project / "data/01_raw/synthetic.parquet", index=False
    )
    scoring = {"fit_on": "reference", "input_path": "data/01_raw/synthetic.parquet"}

    # Spark fits the reference chain; both engines then score with it.
    run_session(
        kedro_project,
        runtime_params={"engine": "sparkml"},
        pipeline_names=["fit_reference"],
    )
    run_session(kedro_project, runtime_params={"engine": "sklearn", **scoring})
    by_sklearn = _read_predictions(kedro_project)
    run_session(kedro_project, runtime_params={"engine": "sparkml", **scoring})
    by_spark = _read_predictions(kedro_project)

    reference = json.loads(
        (kedro_project / "data/06_models/reference_chain.json").read_text()
    )
    assert (reference["fitted_by"], reference["n_rows_fitted"]) == ("sparkml", 295)
    assert len(by_spark) == len(by_sklearn) == 100_000
    np.testing.assert_array_equal(by_spark["time"], by_sklearn["time"])
    np.testing.assert_array_equal(by_spark["prediction"], by_sklearn["prediction"])
    np.testing.assert_allclose(
        by_spark["anomaly_score"], by_sklearn["anomaly_score"], rtol=0, atol=1e-9
    )
    # Both classes occur, so the comparison above compares something.
    assert 0 < (by_spark["prediction"] == -1).sum() < 100_000


# ---- a standalone cluster on 127.0.0.1 ---------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"'{text}' did not appear in {log}:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


class _Cluster:
    def __init__(self, url: str, work_dir: Path) -> None:
        self.url = url
        self.work_dir = work_dir


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[_Cluster]:
    """A Spark standalone master and one worker, on free ports of 127.0.0.1.

    Both run from the ``spark-class`` script of the installed pyspark package,
    each in its own process group, which teardown terminates.
    """
    spark_home = Path(pyspark.__file__).parent
    spark_class = spark_home / "bin" / "spark-class"
    logs = tmp_path / "cluster"
    logs.mkdir()
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    commands = {
        "master": [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--webui-port", str(_free_port())),
        ],
        "worker": [
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--port", str(_free_port())),
            *("--webui-port", str(_free_port())),
            *("--cores", "1", "--memory", "1g", "--work-dir", str(logs / "work")),
            url,
        ],
    }
    started: list[subprocess.Popen] = []
    try:
        for role, ready in (
            ("master", "I have been elected leader"),
            ("worker", "Successfully registered with master"),
        ):
            log = logs / f"{role}.log"
            with log.open("wb") as stream:
                process = subprocess.Popen(
                    [str(spark_class), *commands[role]],
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            started.append(process)
            _wait_for_line(log, ready, process, timeout=120)
        yield _Cluster(url, logs / "work")
    finally:
        for process in reversed(started):
            _stop(process)


def test_pipeline_runs_on_a_standalone_cluster(
    kedro_project, expected_predictions, spark_cluster
):
    run_session(
        kedro_project,
        runtime_params={"engine": "sparkml", "spark_master": spark_cluster.url},
        env="cluster",
    )

    _assert_matches_expected(_read_predictions(kedro_project), expected_predictions)
    # The worker ran this application's executors: it keeps one folder per
    # application, with the executor's log inside.
    applications = list(spark_cluster.work_dir.glob("app-*"))
    assert len(applications) == 1
    assert list(applications[0].glob("*/stderr"))
