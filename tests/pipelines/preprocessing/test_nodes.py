"""Tests of the preprocessing nodes on small frames (sklearn engine)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import FittedChain
from shape.pipelines.preprocessing.nodes import (
    fit_chain,
    fit_reference_chain,
    transform_readings,
    validate_readings,
)

FEATURES = ["vibration_x", "vibration_y", "vibration_z"]


def _reference_transform(frame: pd.DataFrame) -> np.ndarray:
    chain = Pipeline(
        [
            ("reduce_dim", PolynomialFeatures(degree=2)),
            (
                "qtransf",
                QuantileTransformer(
                    n_quantiles=len(frame), output_distribution="normal"
                ),
            ),
            ("poly_feature", PolynomialFeatures(degree=2)),
            ("stdscaler", StandardScaler()),
        ]
    )
    return chain.fit_transform(frame[FEATURES].to_numpy())


def test_validate_readings_keeps_time_and_features_as_float(
    readings, preprocessing_params
):
    raw = readings.assign(vibration_z=readings["vibration_z"].round().astype("int32"))
    raw["sensor"] = "a"

    clean = validate_readings(raw, preprocessing_params, "sklearn")

    assert list(clean.columns) == ["time", *FEATURES]
    assert (clean[FEATURES].dtypes == "float64").all()
    np.testing.assert_array_equal(clean["vibration_z"], raw["vibration_z"])
    assert raw["vibration_z"].dtype == "int32"  # the input frame is left alone


def test_validate_readings_names_missing_and_present_columns(
    readings, preprocessing_params
):
    raw = readings.drop(columns="vibration_y")

    expected = (
        "lacks required column(s) ['vibration_y']; it has "
        "['time', 'vibration_x', 'vibration_z']"
    )
    with pytest.raises(KeyError, match=re.escape(expected)):
        validate_readings(raw, preprocessing_params, "sklearn")


def test_validate_readings_rejects_text_column_by_name(readings, preprocessing_params):
    raw = readings.assign(vibration_x=readings["vibration_x"].astype(str))

    with pytest.raises(TypeError, match="Column 'vibration_x' must hold numbers"):
        validate_readings(raw, preprocessing_params, "sklearn")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_validate_readings_counts_invalid_values_per_column(
    readings, preprocessing_params, bad_value
):
    raw = readings.copy()
    raw.loc[[3, 5], "vibration_y"] = bad_value
    raw.loc[5, "vibration_z"] = bad_value

    expected = (
        "2 of 40 rows have a missing or non-finite value; invalid values per "
        "column: {'vibration_y': 2, 'vibration_z': 1}"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        validate_readings(raw, preprocessing_params, "sklearn")


def test_validate_readings_rejects_an_empty_table(readings, preprocessing_params):
    with pytest.raises(ValueError, match="has no rows"):
        validate_readings(readings.iloc[:0], preprocessing_params, "sklearn")


def test_fit_chain_on_batch_matches_scikit_learn_pipeline(
    readings, preprocessing_params
):
    chain = fit_chain(readings, None, preprocessing_params, "batch", "sklearn")
    model_input = transform_readings(readings, chain, "sklearn")

    assert chain.n_rows_fitted == 40
    assert [step.n_features_out for step in chain.steps] == [10, 10, 66, 66]
    features = model_input.filter(like="feature_").to_numpy()
    np.testing.assert_array_equal(features, _reference_transform(readings))
    pd.testing.assert_frame_equal(model_input[["time", *FEATURES]], readings)


def test_fit_chain_in_reference_mode_reuses_the_stored_chain(
    readings, preprocessing_params
):
    reference = fit_reference_chain(readings, preprocessing_params, "sklearn")
    other_batch = readings.iloc[:10]

    chain = fit_chain(
        other_batch, reference, preprocessing_params, "reference", "sklearn"
    )

    assert chain is reference
    assert chain.n_rows_fitted == 40


def test_fit_chain_in_reference_mode_without_a_stored_chain_says_what_to_run(
    readings, preprocessing_params
):
    with pytest.raises(ValueError, match="kedro run --pipeline=fit_reference"):
        fit_chain(readings, None, preprocessing_params, "reference", "sklearn")


def test_fit_chain_refuses_a_reference_chain_fitted_from_another_spec(
    readings, preprocessing_params
):
    reference = fit_reference_chain(readings, preprocessing_params, "sklearn")
    changed = dict(preprocessing_params)
    changed["chain"] = dict(preprocessing_params["chain"])
    changed["chain"]["qtransf"] = {
        "QuantileTransformer": {"output_distribution": "uniform"}
    }

    with pytest.raises(ValueError, match="at step 1 'qtransf'"):
        fit_chain(readings, reference, changed, "reference", "sklearn")


def test_fitted_chain_survives_a_json_round_trip(readings, preprocessing_params):
    chain = fit_reference_chain(readings, preprocessing_params, "sklearn")

    restored = FittedChain.from_dict(chain.to_dict())

    first = transform_readings(readings, chain, "sklearn")
    second = transform_readings(readings, restored, "sklearn")
    pd.testing.assert_frame_equal(first, second, check_exact=True)
