"""Whole runs of the project, in-process and through the real ``kedro`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shape.pipelines.reporting import create_pipeline as create_reporting_pipeline
from shape.synthetic import generate_readings
from tests.conftest import run_kedro_cli, run_session

PREDICTIONS = "data/07_model_output/predictions.parquet"
METRICS = "data/08_reporting/metrics.json"


def assert_matches_expected(predictions: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Reading columns, then the classes and scores of the challenge's truth.

    The same rows and classes, and scores within 1e-9 of decision_function.
    """
    assert list(predictions.columns) == [
        "time",
        "vibration_x",
        "vibration_y",
        "vibration_z",
        "prediction",
        "anomaly_score",
    ]
    assert predictions["prediction"].dtype == np.int64
    np.testing.assert_array_equal(predictions["time"], expected["time"])
    np.testing.assert_array_equal(predictions["prediction"], expected["prediction"])
    np.testing.assert_allclose(
        predictions["anomaly_score"], expected["decision_function"], rtol=0, atol=1e-9
    )


def test_default_run_matches_expected_predictions(kedro_project, expected_predictions):
    run_session(kedro_project)

    predictions = pd.read_parquet(kedro_project / PREDICTIONS)
    assert_matches_expected(predictions, expected_predictions)
    assert (predictions["prediction"] == -1).sum() == 31

    metrics = json.loads((kedro_project / METRICS).read_text())
    assert metrics["rows"] == 295
    assert metrics["anomalies"] == 31
    assert metrics["features_out"] == 66
    assert set(metrics["stage_durations_s"]) == {"preprocessing", "modelling"}


def test_chain_read_from_the_jsonc_file_gives_the_same_predictions(
    kedro_project, expected_predictions
):
    run_session(
        kedro_project,
        runtime_params={"preprocessing": {"chain": "data/01_raw/pipeline.jsonc"}},
    )

    assert_matches_expected(
        pd.read_parquet(kedro_project / PREDICTIONS), expected_predictions
    )


def test_input_path_parameter_scores_another_table(kedro_project, challenge_dir):
    source = pd.read_parquet(challenge_dir / "dataset.parquet")
    other = kedro_project / "data/01_raw/other.parquet"
    generate_readings(500, seed=3, source=source).to_parquet(other, index=False)

    run_session(kedro_project, runtime_params={"input_path": str(other)})

    predictions = pd.read_parquet(kedro_project / PREDICTIONS)
    assert len(predictions) == 500
    np.testing.assert_array_equal(predictions["time"], pd.read_parquet(other)["time"])


def test_reference_mode_reuses_the_chain_fitted_by_fit_reference(
    kedro_project, expected_predictions
):
    # The set-up places the challenge table as the reference table too, so the
    # reference chain is the challenge's chain.
    run_session(kedro_project, pipeline_names=["fit_reference"])
    reference = json.loads(
        (kedro_project / "data/06_models/reference_chain.json").read_text()
    )

    run_session(kedro_project, runtime_params={"fit_on": "reference"})

    assert reference["n_rows_fitted"] == 295
    assert_matches_expected(
        pd.read_parquet(kedro_project / PREDICTIONS), expected_predictions
    )
    used = json.loads((kedro_project / "data/06_models/fitted_chain.json").read_text())
    assert used == reference


def test_reference_mode_without_a_reference_chain_fails_with_the_fix(kedro_project):
    with pytest.raises(ValueError, match="kedro run --pipelines=fit_reference"):
        run_session(kedro_project, runtime_params={"fit_on": "reference"})


def test_kedro_cli_runs_without_warnings_then_reporting_alone(kedro_project):
    full = run_kedro_cli(kedro_project, "run")
    assert full.returncode == 0, full.stderr
    assert "Warning" not in full.stderr + full.stdout
    first_metrics = json.loads((kedro_project / METRICS).read_text())
    (kedro_project / METRICS).unlink()

    reporting = run_kedro_cli(kedro_project, "run", "--tags=reporting")

    assert reporting.returncode == 0, reporting.stderr
    tasks = len(create_reporting_pipeline().nodes)
    assert f"Completed {tasks} out of {tasks} tasks" in reporting.stderr
    metrics = json.loads((kedro_project / METRICS).read_text())
    assert (metrics["rows"], metrics["anomalies"]) == (295, 31)
    assert metrics["features_out"] == first_metrics["features_out"] == 66


def test_kedro_cli_rejects_a_bad_chain_step_before_reading_data(kedro_project):
    result = run_kedro_cli(
        kedro_project,
        "run",
        "--params=preprocessing.chain.qtransf.QuantileTransformer.n_quantiles=one",
    )

    assert result.returncode != 0
    assert (
        "Step 'qtransf' (QuantileTransformer) of the chain spec: argument "
        "'n_quantiles' must be an integer of at least 2; got 'one'"
    ) in result.stderr
    assert "Loading data from raw_readings" not in result.stderr
    assert not (kedro_project / PREDICTIONS).exists()
