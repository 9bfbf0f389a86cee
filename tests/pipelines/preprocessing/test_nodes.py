"""Tests of the chain nodes on small frames (sklearn engine).

validate_readings has its own file, test_validate_readings.py.
"""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="kedro run --pipelines=fit_reference"):
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
