"""The MLflow records of real runs, read back from the tracking store."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from shape.hooks import mlflow_tracking
from shape.hooks.run_context import current_run
from shape.synthetic import write_readings
from tests.conftest import run_kedro_cli, run_session
from tests.hooks.conftest import free_port

#: The longest a run may take when the tracking server does not answer: the
#: probe's 3 s on top of the run itself.
DEAD_SERVER_RUN_S = 60


def _local_client(project: Path) -> MlflowClient:
    """A client on the project's own store (conf/base/mlflow.yml's default)."""
    database = project / "mlruns" / "mlflow.db"
    assert database.is_file(), f"no local tracking store at {database}"
    return MlflowClient(tracking_uri=f"sqlite:///{database.as_posix()}")


def _tracked_run(client: MlflowClient, run_id: str) -> mlflow.entities.Run:
    """The MLflow run tagged with the run id shared by the hooks."""
    experiment = client.get_experiment_by_name("shape")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`shape.run_id` = '{run_id}'"
    )
    assert len(runs) == 1
    return runs[0]


@pytest.fixture
def tracked_project(kedro_project: Path) -> tuple[Path, mlflow.entities.Run]:
    """A default run of the project, and its MLflow run in the local store."""
    run_session(kedro_project)
    run = _tracked_run(_local_client(kedro_project), current_run().run_id)
    return kedro_project, run


def test_run_records_parameters(tracked_project, challenge_dir):
    project, run = tracked_project
    params = run.data.params

    model_sha256 = hashlib.sha256(
        (challenge_dir / "model.pkl").read_bytes()
    ).hexdigest()
    assert run.info.status == "FINISHED"
    assert run.info.run_id == current_run().mlflow_run_id
    assert params["engine"] == "sklearn"
    assert params["fit_on"] == "batch"
    assert params["input_path"] == "data/01_raw/readings.parquet"
    assert params["model_sha256"] == model_sha256
    chain = json.loads(
        (project / "data/06_models/fitted_chain.json").read_text("utf-8")
    )
    assert params["chain.steps"] == ",".join(
        f"{step['name']}:{step['transformer']}" for step in chain["steps"]
    )
    for step in chain["steps"]:
        for arg, value in step["args"].items():
            assert params[f"chain.{step['name']}.{arg}"] == str(value)
    assert params["chain.n_rows_fitted"] == str(chain["n_rows_fitted"])


def test_run_records_metrics_and_report(tracked_project):
    project, run = tracked_project
    metrics = run.data.metrics
    predictions = pd.read_parquet(project / "data/07_model_output/predictions.parquet")
    anomalies = int((predictions["prediction"] == -1).sum())

    assert metrics["rows"] == len(predictions)
    assert metrics["anomalies"] == anomalies
    assert metrics["inliers"] == len(predictions) - anomalies
    assert metrics["anomaly_rate"] == pytest.approx(anomalies / len(predictions))
    stages = ["preprocessing", "modelling", "reporting"]
    assert all(metrics[f"duration_s.{stage}"] > 0 for stage in stages)
    assert metrics["duration_s.total"] == pytest.approx(
        sum(metrics[f"duration_s.{stage}"] for stage in stages)
    )

    client = _local_client(project)
    local = Path(client.download_artifacts(run.info.run_id, "reporting/metrics.json"))
    assert json.loads(local.read_text("utf-8")) == json.loads(
        (project / "data/08_reporting/metrics.json").read_text("utf-8")
    )


def test_logged_model_scores_raw_readings_as_the_run(tracked_project):
    project, run = tracked_project
    raw = pd.read_parquet(project / "data/01_raw/readings.parquet")
    predictions = pd.read_parquet(project / "data/07_model_output/predictions.parquet")

    mlflow.set_tracking_uri(_local_client(project).tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/anomaly_model")
    scored = model.predict(raw)

    assert list(scored.columns) == ["prediction", "anomaly_score"]
    assert scored["prediction"].dtype == np.int64
    np.testing.assert_array_equal(scored["prediction"], predictions["prediction"])
    np.testing.assert_array_equal(scored["anomaly_score"], predictions["anomaly_score"])
    with pytest.raises(mlflow.exceptions.MlflowException, match="vibration_y"):
        model.predict(raw.drop(columns=["vibration_y"]))


@pytest.mark.parametrize("engine", ["sklearn", "sparkml"])
def test_logged_model_input_example_is_the_first_readings(kedro_project, engine):
    run_session(kedro_project, runtime_params={"engine": engine})
    run = _tracked_run(_local_client(kedro_project), current_run().run_id)

    mlflow.set_tracking_uri(_local_client(kedro_project).tracking_uri)
    local = mlflow.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/anomaly_model"
    )
    example = mlflow.models.Model.load(local).load_input_example(local)

    raw = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    columns = ["time", "vibration_x", "vibration_y", "vibration_z"]
    expected = raw[columns].head(5).astype("float64")
    pd.testing.assert_frame_equal(example[columns].astype("float64"), expected)


def test_failed_run_is_marked_failed_with_its_error(kedro_project):
    readings = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    readings.drop(columns=["vibration_z"]).to_parquet(
        kedro_project / "data/01_raw/readings.parquet", index=False
    )

    with pytest.raises(KeyError):
        run_session(kedro_project)

    run = _tracked_run(_local_client(kedro_project), current_run().run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["shape.error"].startswith("KeyError")
    assert "vibration_z" in run.data.tags["shape.error"]
    assert "rows" not in run.data.metrics


@pytest.mark.parametrize(
    "time_as",
    [
        pytest.param(lambda seconds: (seconds * 1000).astype("int64"), id="int"),
        pytest.param(
            lambda seconds: pd.to_datetime(seconds, unit="s", utc=True), id="utc"
        ),
    ],
)
def test_a_time_column_of_any_type_gives_no_warning_and_scores(kedro_project, time_as):
    raw = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    raw["time"] = time_as(raw["time"])
    raw.to_parquet(
        kedro_project / "data/01_raw/timed.parquet",
        index=False,
        coerce_timestamps="us",
        allow_truncated_timestamps=True,
    )

    result = run_kedro_cli(
        kedro_project, "run", "--params=input_path=data/01_raw/timed.parquet"
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert " WARNING " not in result.stderr, result.stderr[-3000:]
    assert "Found extra inputs" not in result.stderr
    client = _local_client(kedro_project)
    (run,) = client.search_runs([client.get_experiment_by_name("shape").experiment_id])
    mlflow.set_tracking_uri(client.tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/anomaly_model")
    predictions = pd.read_parquet(
        kedro_project / "data/07_model_output/predictions.parquet"
    )
    # The raw table, its time column included, scores as the run scored it.
    scored = model.predict(pd.read_parquet(kedro_project / "data/01_raw/timed.parquet"))
    np.testing.assert_array_equal(scored["anomaly_score"], predictions["anomaly_score"])
    assert (scored["prediction"] == -1).sum() == 31


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"]
)
def test_interrupted_run_is_marked_killed(kedro_project, stop):
    write_readings(kedro_project / "data/01_raw/big.parquet", 1_000_000)
    kedro = Path(sys.executable).with_name("kedro")
    process = subprocess.Popen(
        [str(kedro), "run", "--params=input_path=data/01_raw/big.parquet"],
        cwd=kedro_project,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    log = []
    for line in process.stderr:
        log.append(line)
        if "Running node: score_readings" in line:
            process.send_signal(stop)
            break
    log.extend(process.stderr)
    assert process.wait(timeout=120) != 0, "".join(log)[-3000:]

    client = _local_client(kedro_project)
    (run,) = client.search_runs([client.get_experiment_by_name("shape").experiment_id])
    assert run.info.status == "KILLED"
    assert run.data.tags["shape.error"].startswith("interrupted")
    # The predictions being written when the run stopped left nothing behind.
    assert list((kedro_project / "data/07_model_output").iterdir()) == []


def test_run_stopped_by_parameter_check_opens_no_mlflow_run(kedro_project):
    with pytest.raises(ValueError, match="Parameter 'fit_on'"):
        run_session(kedro_project, runtime_params={"fit_on": "sometimes"})

    assert mlflow.active_run() is None
    # The check runs when the context is created, before kedro-mlflow sets up
    # its store, so the project's local store was not even created.
    assert not (kedro_project / "mlruns/mlflow.db").exists()


def test_unreachable_server_falls_back_to_local_store(
    kedro_project, monkeypatch, caplog
):
    server = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)

    started = time.monotonic()
    run_session(kedro_project)
    elapsed = time.monotonic() - started

    assert elapsed < DEAD_SERVER_RUN_S
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("shape") and record.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1
    assert server in warnings[0]
    assert "local store" in warnings[0]
    run = _tracked_run(_local_client(kedro_project), current_run().run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rows"] > 0


def test_tracking_uri_from_environment(kedro_project, tmp_path, monkeypatch):
    database = tmp_path / "elsewhere" / "tracking.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database.as_posix()}")

    run_session(kedro_project)

    client = MlflowClient(tracking_uri=f"sqlite:///{database.as_posix()}")
    run = _tracked_run(client, current_run().run_id)
    assert run.data.params["engine"] == "sklearn"
    assert not (kedro_project / "mlruns" / "mlflow.db").exists()


def test_default_cli_run_prints_no_warning(kedro_project):
    result = run_kedro_cli(kedro_project, "run")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr
    assert " WARNING " not in result.stderr
    assert "Kafka run events are off" in result.stderr
    client = _local_client(kedro_project)
    experiment = client.get_experiment_by_name("shape")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert (
        run.data.metrics["anomalies"]
        == json.loads(
            (kedro_project / "data/08_reporting/metrics.json").read_text("utf-8")
        )["anomalies"]
    )


class _HealthRecorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 and records its path and headers."""

    requests: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).requests.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_probe_reaches_a_server_whose_uri_holds_credentials_without_sending_them():
    _HealthRecorder.requests.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _HealthRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        problem = mlflow_tracking._probe(f"http://bob:s3cret@127.0.0.1:{port}/mlflow/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert problem is None
    assert len(_HealthRecorder.requests) == 1
    path, headers = _HealthRecorder.requests[0]
    assert path == "/mlflow/health"
    assert headers["Host"] == f"127.0.0.1:{port}"
    assert "Authorization" not in headers
    assert "s3cret" not in json.dumps(headers)


def test_probe_of_a_dead_server_with_credentials_names_no_password():
    problem = mlflow_tracking._probe(f"http://bob:s3cret@127.0.0.1:{free_port()}")

    assert problem is not None
    assert "ConnectionRefusedError" in problem
    assert "s3cret" not in problem
