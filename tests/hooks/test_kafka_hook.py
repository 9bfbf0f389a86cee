"""The Kafka hook against a real broker: a good run, a failing run, a dead broker."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from shape.data_setup import place_inputs
from shape.hooks.kafka import SCHEMA_VERSION
from shape.hooks.run_context import current_run
from shape.pipeline_registry import register_pipelines
from tests.conftest import run_session
from tests.hooks.conftest import consume_events, free_port

SPOOL = Path("data/08_reporting/kafka_spool.jsonl")

#: The longest a run may take with the broker down: one metadata wait of the
#: producer (5 s, conf/base/kafka.yml) on top of the run itself.
DEAD_BROKER_RUN_S = 60


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> str:
    """A topic of its own for each test, named by ``KAFKA_TOPIC``."""
    name = f"shape.test.{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("KAFKA_TOPIC", name)
    return name


@pytest.fixture
def default_nodes() -> list[str]:
    """Node names of the default pipeline, in the order they run."""
    return [node.name for node in register_pipelines()["__default__"].nodes]


def _check_envelope(key: str, event: dict, run_id: str) -> None:
    assert key == run_id
    assert event["run_id"] == run_id
    assert event["schema_version"] == SCHEMA_VERSION
    stamp = datetime.fromisoformat(event["timestamp"])
    assert stamp.utcoffset() == timedelta(0)


def _check_failed_run(events: list[dict]) -> None:
    """run_started, node_completed of the nodes that ran, then run_failed."""
    names = [event["event"] for event in events]
    assert names[0] == "run_started"
    assert names[-1] == "run_failed"
    assert set(names[1:-1]) <= {"node_completed"}
    assert "validate_readings" not in [event.get("node") for event in events[1:-1]]


def _assert_nothing_spooled(project: Path) -> None:
    spool = project / SPOOL
    assert not spool.exists(), f"events were spooled: {spool.read_text('utf-8')}"


def _break_input(project: Path) -> None:
    readings = pd.read_parquet(project / "data/01_raw/readings.parquet")
    readings.drop(columns=["vibration_z"]).to_parquet(
        project / "data/01_raw/readings.parquet", index=False
    )


def test_good_run_sends_every_event(
    kedro_project, kafka_broker, topic, monkeypatch, default_nodes
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)

    run_session(kedro_project)

    run_id = current_run().run_id
    predictions = pd.read_parquet(
        kedro_project / "data/07_model_output/predictions.parquet"
    )
    anomalies = int((predictions["prediction"] == -1).sum())
    events = consume_events(kafka_broker, topic)
    for key, event in events:
        _check_envelope(key, event, run_id)
    names = [event["event"] for _, event in events]
    assert names == (
        ["run_started"] + ["node_completed"] * len(default_nodes) + ["run_completed"]
    )

    started = events[0][1]
    assert started["engine"] == "sklearn"
    assert started["fit_on"] == "batch"
    assert started["input_path"] == "data/01_raw/readings.parquet"
    assert started["feature_columns"] == ["vibration_x", "vibration_y", "vibration_z"]
    assert [step["step"] for step in started["chain"]] == [
        "reduce_dim",
        "qtransf",
        "poly_feature",
        "stdscaler",
    ]
    assert started["chain"][1]["args"]["output_distribution"] == "normal"
    # The spec names no random_state; the event shows the seed the fit used.
    fitted = json.loads(
        (kedro_project / "data/06_models/fitted_chain.json").read_text()
    )
    assert (
        started["chain"][1]["args"]["random_state"]
        == (fitted["steps"][1]["args"]["random_state"])
    )
    assert fitted["steps"][1]["args"]["random_state"] is not None

    completed_nodes = [event for _, event in events[1:-1]]
    assert [event["node"] for event in completed_nodes] == default_nodes
    assert all(event["duration_s"] >= 0 for event in completed_nodes)
    by_node = {event["node"]: event for event in completed_nodes}
    assert by_node["validate_readings"]["stage"] == "preprocessing"
    # The sklearn engine's frames are streams, whose length is not known
    # without reading them; the validation's own row count is.
    assert by_node["validate_readings"]["rows"] == {"readings_check": len(predictions)}
    assert by_node["score_readings"]["rows"] == {}

    summary = events[-1][1]
    assert summary["rows"] == len(predictions)
    assert summary["counts"] == {
        "inlier": len(predictions) - anomalies,
        "anomaly": anomalies,
    }
    assert summary["anomaly_rate"] == pytest.approx(anomalies / len(predictions))
    assert set(summary["durations_s"]) == {
        "preprocessing",
        "modelling",
        "reporting",
        "total",
    }
    # Kedro makes the catalog's relative paths absolute under the project.
    assert summary["outputs"]["predictions"] == str(
        kedro_project / "data/07_model_output/predictions.parquet"
    )
    assert summary["outputs"]["scoring_metrics"] == str(
        kedro_project / "data/08_reporting/metrics.json"
    )
    assert summary["mlflow_run_id"] == current_run().mlflow_run_id
    _assert_nothing_spooled(kedro_project)


def test_failing_run_sends_run_failed_and_logs_traceback(
    kedro_project, kafka_broker, topic, monkeypatch, caplog
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    _break_input(kedro_project)

    with pytest.raises(KeyError, match="vibration_z"):
        run_session(kedro_project)

    run_id = current_run().run_id
    events = consume_events(kafka_broker, topic)
    for key, event in events:
        _check_envelope(key, event, run_id)
    _check_failed_run([event for _, event in events])
    failure = events[-1][1]
    assert failure["node"] == "validate_readings"
    assert failure["error_type"] == "KeyError"
    assert "vibration_z" in failure["message"]
    logged = [
        record.getMessage()
        for record in caplog.records
        if record.name == "shape.hooks.kafka" and record.levelno == logging.ERROR
    ]
    assert len(logged) == 1
    assert "Traceback (most recent call last)" in logged[0]
    assert "KeyError" in logged[0]
    _assert_nothing_spooled(kedro_project)


def test_unreadable_input_names_the_node_and_hides_secrets(
    kedro_project, kafka_broker, topic, monkeypatch, caplog
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    missing = "data/01_raw/token=hunter2.parquet"

    with pytest.raises(DatasetError, match="token=hunter2"):
        run_session(kedro_project, runtime_params={"input_path": missing})

    events = [event for _, event in consume_events(kafka_broker, topic)]
    _check_failed_run(events)
    assert events[0]["input_path"] == "data/01_raw/token=***"
    assert events[-1]["node"] == "validate_readings"
    assert events[-1]["error_type"] == "DatasetError"
    assert "token=***" in events[-1]["message"]
    assert "hunter2" not in json.dumps(events)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("shape")]
    assert ours
    assert not [message for message in ours if "hunter2" in message]


def test_dead_broker_spools_events_and_run_completes(
    kedro_project, topic, monkeypatch, caplog, default_nodes
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")

    started = time.monotonic()
    run_session(kedro_project)
    elapsed = time.monotonic() - started

    assert elapsed < DEAD_BROKER_RUN_S
    metrics = json.loads(
        (kedro_project / "data/08_reporting/metrics.json").read_text("utf-8")
    )
    lines = (kedro_project / SPOOL).read_text("utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [event["event"] for event in events] == (
        ["run_started"] + ["node_completed"] * len(default_nodes) + ["run_completed"]
    )
    assert {event["run_id"] for event in events} == {current_run().run_id}
    assert events[-1]["counts"]["anomaly"] == metrics["anomalies"]
    warnings = [
        record
        for record in caplog.records
        if record.name.startswith("shape") and record.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1
    assert "did not take the events" in warnings[0].getMessage()


def test_dead_broker_failed_run_spools_run_failed_then_next_run_appends(
    kedro_project, challenge_dir, topic, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    _break_input(kedro_project)
    with pytest.raises(KeyError):
        run_session(kedro_project)
    failed_run = current_run().run_id
    place_inputs(kedro_project, challenge_dir)
    run_session(kedro_project)
    good_run = current_run().run_id

    events = [
        json.loads(line)
        for line in (kedro_project / SPOOL).read_text("utf-8").splitlines()
    ]
    assert failed_run != good_run
    failed = [event for event in events if event["run_id"] == failed_run]
    _check_failed_run(failed)
    assert failed[-1]["node"] == "validate_readings"
    assert failed[-1]["error_type"] == "KeyError"
    assert events[: len(failed)] == failed
    assert {event["run_id"] for event in events[len(failed) :]} == {good_run}
    assert events[-1]["event"] == "run_completed"


def test_no_broker_configured_means_no_events(kedro_project, monkeypatch, caplog):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    caplog.set_level(logging.INFO, logger="shape.hooks.kafka")

    run_session(kedro_project)

    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "shape.hooks.kafka"
    ]
    assert messages == ["Kafka run events are off: KAFKA_BOOTSTRAP_SERVERS is not set."]
    _assert_nothing_spooled(kedro_project)
