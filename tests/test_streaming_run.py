"""Streamed runs through ``KedroSession`` still reproduce the challenge's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_session


def _assert_matches_truth(predictions: pd.DataFrame, expected: pd.DataFrame) -> None:
    np.testing.assert_array_equal(predictions["time"], expected["time"])
    np.testing.assert_array_equal(predictions["prediction"], expected["prediction"])
    np.testing.assert_allclose(
        predictions["anomaly_score"],
        expected["decision_function"],
        rtol=0,
        atol=1e-9,
    )


@pytest.mark.parametrize("batch_rows", [7, 100])
def test_a_run_in_small_batches_matches_expected_predictions(
    kedro_project, expected_predictions, batch_rows
):
    run_session(kedro_project, runtime_params={"batch_rows": batch_rows})

    output = kedro_project / "data/07_model_output/predictions.parquet"
    _assert_matches_truth(pd.read_parquet(output), expected_predictions)
    metrics = json.loads((kedro_project / "data/08_reporting/metrics.json").read_text())
    assert (metrics["rows"], metrics["anomalies"]) == (295, 31)


def test_a_partitioned_input_folder_matches_expected_predictions(
    kedro_project, expected_predictions
):
    readings = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    folder = kedro_project / "data/01_raw/readings_parts"
    folder.mkdir()
    for index, start in enumerate(range(0, len(readings), 100)):
        readings.iloc[start : start + 100].to_parquet(
            folder / f"part-{index:05d}.parquet", index=False
        )

    run_session(kedro_project, runtime_params={"input_path": str(folder)})

    output = kedro_project / "data/07_model_output/predictions.parquet"
    _assert_matches_truth(pd.read_parquet(output), expected_predictions)


def test_reporting_alone_reads_the_stored_predictions(kedro_project):
    run_session(kedro_project)
    metrics_file = kedro_project / "data/08_reporting/metrics.json"
    metrics_file.unlink()

    run_session(kedro_project, tags=["reporting"])

    metrics = json.loads(metrics_file.read_text())
    assert (metrics["rows"], metrics["anomalies"], metrics["inliers"]) == (
        295,
        31,
        264,
    )


def test_preprocessing_alone_fits_and_stores_the_chain(kedro_project):
    chain_file = kedro_project / "data/06_models/fitted_chain.json"

    run_session(kedro_project, pipeline_names=["preprocessing"])

    chain = json.loads(chain_file.read_text())
    assert chain["n_rows_fitted"] == 295
    assert chain["steps"][1]["args"]["random_state"] == 0
    assert not (kedro_project / "data/07_model_output/predictions.parquet").exists()


def test_a_stored_reference_chain_scores_a_streamed_table(
    kedro_project, expected_predictions
):
    run_session(kedro_project, pipeline_names=["fit_reference"])

    run_session(kedro_project, runtime_params={"fit_on": "reference", "batch_rows": 50})

    output = kedro_project / "data/07_model_output/predictions.parquet"
    _assert_matches_truth(pd.read_parquet(output), expected_predictions)
