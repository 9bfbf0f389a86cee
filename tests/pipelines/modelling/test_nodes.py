"""Tests of the scoring node; check_model has its own file."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import OneClassSVM

from shape.pipelines.modelling.nodes import score_readings
from shape.pipelines.preprocessing.nodes import fit_reference_chain, transform_readings


@pytest.fixture
def chain(readings, preprocessing_params):
    return fit_reference_chain(readings, preprocessing_params, "sklearn")


@pytest.fixture
def model_input_table(readings, chain):
    return transform_readings(readings, chain, "sklearn")


@pytest.fixture
def model(model_input_table):
    features = model_input_table.filter(like="feature_").to_numpy()
    return OneClassSVM(gamma="auto", nu=0.1).fit(features)


def test_score_readings_matches_the_model_and_keeps_reading_columns(
    model_input_table, model, chain, readings
):
    predictions = score_readings(model_input_table, model, chain, "sklearn")

    features = model_input_table.filter(like="feature_").to_numpy()
    assert list(predictions.columns) == [
        *readings.columns,
        "prediction",
        "anomaly_score",
    ]
    np.testing.assert_array_equal(predictions["prediction"], model.predict(features))
    np.testing.assert_array_equal(
        predictions["anomaly_score"], model.decision_function(features)
    )
    assert predictions["prediction"].dtype == np.int64
    assert set(predictions["prediction"]) == {-1, 1}
