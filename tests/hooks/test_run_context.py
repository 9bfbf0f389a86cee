"""``RunContextHook`` supplies the run id, times, MLflow run and model hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import mlflow
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Node
from kedro_datasets.pickle import PickleDataset

from shape.hooks.run_context import RunContextHook


def _report(*inputs):
    return None


REPORT_NODE = Node(_report, ["predictions", "run_context"], None, name="report")
OTHER_NODE = Node(_report, ["predictions"], None, name="other")


@pytest.fixture
def catalog(tmp_path) -> DataCatalog:
    model_file = tmp_path / "model.pkl"
    PickleDataset(filepath=str(model_file)).save({"weights": [1, 2, 3]})
    return DataCatalog({"anomaly_model": PickleDataset(filepath=str(model_file))})


def _start(hook: RunContextHook, catalog: DataCatalog, **runtime_params) -> None:
    hook.before_pipeline_run(
        run_params={
            "run_id": "2026-04-12T08.00.00.000Z",
            "runtime_params": runtime_params,
        },
        catalog=catalog,
    )


def test_context_goes_only_to_nodes_that_take_it(catalog, tmp_path):
    hook = RunContextHook()
    before = datetime.now(UTC)
    _start(hook, catalog)

    supplied = hook.before_node_run(node=REPORT_NODE)

    context = supplied["run_context"]
    assert context["run_id"] == "2026-04-12T08.00.00.000Z"
    assert before <= context["started_at"] <= context["finished_at"]
    assert (
        context["model_sha256"]
        == hashlib.sha256((tmp_path / "model.pkl").read_bytes()).hexdigest()
    )
    assert hook.before_node_run(node=OTHER_NODE) is None


def test_runtime_param_run_id_names_the_run(catalog):
    hook = RunContextHook()
    _start(hook, catalog, run_id="nightly-0412")

    context = hook.before_node_run(node=REPORT_NODE)["run_context"]

    assert context["run_id"] == "nightly-0412"


def test_model_hash_is_none_without_a_model_file(tmp_path):
    hook = RunContextHook()
    _start(hook, DataCatalog())

    assert hook.before_node_run(node=REPORT_NODE)["run_context"]["model_sha256"] is None


def test_active_mlflow_run_is_recorded(catalog, tmp_path):
    hook = RunContextHook()
    _start(hook, catalog)
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
