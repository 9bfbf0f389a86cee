"""The default pipeline on the challenge data reproduces the truth exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import run_session


def test_default_run_matches_expected_predictions(kedro_project, expected_predictions):
    run_session(kedro_project)

    predictions = pd.read_parquet(
        kedro_project / "data/07_model_output/predictions.parquet"
    )
    assert list(predictions.columns) == [
        "time",
        "vibration_x",
        "vibration_y",
        "vibration_z",
        "prediction",
        "anomaly_score",
    ]
    assert predictions["prediction"].dtype == np.int64
    np.testing.assert_array_equal(
        predictions["time"].to_numpy(), expected_predictions["time"].to_numpy()
    )
    np.testing.assert_array_equal(
        predictions["prediction"].to_numpy(),
        expected_predictions["prediction"].to_numpy(),
    )
    np.testing.assert_allclose(
        predictions["anomaly_score"].to_numpy(),
        expected_predictions["decision_function"].to_numpy(),
        rtol=0,
        atol=1e-9,
    )
    assert (predictions["prediction"] == -1).sum() == 31
