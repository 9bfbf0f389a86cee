"""``PipelineInputsHook`` stops a run that lacks the nodes making its inputs."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import run_kedro_cli, run_session

PREDICTIONS = "data/07_model_output/predictions.parquet"


def _mlflow_runs(project) -> int:
    store = project / "mlruns/mlflow.db"
    if not store.exists():
        return 0
    with sqlite3.connect(store) as connection:
        names = connection.execute("select name from sqlite_master")
        if "runs" not in {row[0] for row in names}:
            return 0
        return connection.execute("select count(*) from runs").fetchone()[0]


def test_modelling_alone_is_stopped_with_the_dataset_and_its_maker(kedro_project):
    with pytest.raises(ValueError) as error:
        run_session(kedro_project, pipeline_names=["modelling"])

    message = str(error.value)
    assert "'model_input_table' (made by transform_readings)" in message
    assert "--pipelines=preprocessing,modelling" in message
    # Stopped before any node ran and before an MLflow run was opened.
    assert not (kedro_project / PREDICTIONS).exists()
    assert _mlflow_runs(kedro_project) == 0


def test_a_run_from_a_node_after_the_lazy_inputs_is_stopped_through_the_cli(
    kedro_project,
):
    result = run_kedro_cli(kedro_project, "run", "--from-nodes=score_readings")

    assert result.returncode == 1
    assert "'model_input_table' (made by transform_readings)" in result.stderr
    assert "'scoring_model' (made by check_model)" in result.stderr
    assert "has not been saved yet" not in result.stderr


def test_stages_that_read_only_stored_datasets_still_run_on_their_own(
    kedro_project,
):
    run_session(kedro_project, pipeline_names=["preprocessing", "modelling"])
    assert (kedro_project / PREDICTIONS).exists()

    # The reporting pipeline reads the stored predictions, chain and check.
    run_session(kedro_project, pipeline_names=["reporting"])
    assert (kedro_project / "data/08_reporting/metrics.json").exists()
    # Both runs were tracked: the count the first test expects to stay at 0
    # does see runs.
    assert _mlflow_runs(kedro_project) == 2
