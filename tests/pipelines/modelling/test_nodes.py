"""Tests of the modelling nodes."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.svm import OneClassSVM

from shape.pipelines.modelling.nodes import check_model, score_readings
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


def test_check_model_passes_a_model_of_the_chains_width(model, chain):
    assert check_model(model, chain) is model


def test_check_model_gives_both_feature_counts(readings, chain):
    narrow = OneClassSVM().fit(readings[["vibration_x", "vibration_y"]].to_numpy())

    expected = "The anomaly model expects 2 input features but the chain produces 66"
    with pytest.raises(ValueError, match=re.escape(expected)):
        check_model(narrow, chain)


def test_check_model_rejects_an_object_that_cannot_score(chain):
    with pytest.raises(TypeError, match="The anomaly model \\(dict\\) has no"):
        check_model({"weights": [1, 2]}, chain)


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
