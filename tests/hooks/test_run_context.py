"""``RunContextHook`` supplies the run id, the run's times and the MLflow run."""

from __future__ import annotations

from datetime import UTC, datetime

import mlflow
from kedro.pipeline import Node

from shape.hooks.run_context import RunContextHook


def _report(*inputs):
    return None


REPORT_NODE = Node(_report, ["predictions", "run_context"], None, name="report")
OTHER_NODE = Node(_report, ["predictions"], None, name="other")


def _started(**runtime_params) -> RunContextHook:
    hook = RunContextHook()
    hook.before_pipeline_run(
        run_params={
            "run_id": "2026-04-12T08.00.00.000Z",
            "runtime_params": runtime_params,
        }
    )
    return hook


def test_context_goes_only_to_nodes_that_take_it():
    before = datetime.now(UTC)
    hook = _started()

    supplied = hook.before_node_run(node=REPORT_NODE)

    context = supplied["run_context"]
    assert context["run_id"] == "2026-04-12T08.00.00.000Z"
    assert before <= context["started_at"] <= context["finished_at"]
    assert context["started_at"].tzinfo is UTC
    assert hook.before_node_run(node=OTHER_NODE) is None


def test_runtime_param_run_id_names_the_run():
    hook = _started(run_id="nightly-0412")

    context = hook.before_node_run(node=REPORT_NODE)["run_context"]

    assert context["run_id"] == "nightly-0412"


def test_active_mlflow_run_is_recorded(tmp_path):
    hook = _started()
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with mlflow.start_run() as run:
            inside = hook.before_node_run(node=REPORT_NODE)["run_context"]
        after = hook.before_node_run(node=REPORT_NODE)["run_context"]
    finally:
        mlflow.set_tracking_uri(previous_uri)

    assert inside["mlflow_run_id"] == run.info.run_id
    assert after["mlflow_run_id"] is None
