"""``check_model`` refuses a model that cannot score the chain's output."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import PolynomialFeatures
from sklearn.svm import OneClassSVM

from shape.chain import ChainStep, count_features_out
from shape.pipelines.modelling.nodes import check_model

CHALLENGE_CHAIN = {
    "reduce_dim": {"PolynomialFeatures": {"degree": 2}},
    "qtransf": {"QuantileTransformer": {"output_distribution": "normal"}},
    "poly_feature": {"PolynomialFeatures": {"degree": 2}},
    "stdscaler": {"StandardScaler": {"with_mean": True, "with_std": True}},
}


@pytest.fixture
def preprocessing():
    return {
        "time_column": "time",
        "feature_columns": ["vibration_x", "vibration_y", "vibration_z"],
        "chain": CHALLENGE_CHAIN,
    }


def _model_on(n_features: int) -> OneClassSVM:
    features = np.random.default_rng(1).normal(size=(30, n_features))
    return OneClassSVM(gamma="auto").fit(features)


def test_model_matching_the_chain_is_returned(preprocessing):
    model = _model_on(66)
    assert check_model(model, preprocessing) is model


def test_feature_count_mismatch_gives_both_numbers(preprocessing):
    with pytest.raises(
        ValueError,
        match=r"expects 10 input features but the chain produces 66 \(steps "
        r"\['reduce_dim', 'qtransf', 'poly_feature', 'stdscaler'\] on 3 columns\)",
    ):
        check_model(_model_on(10), preprocessing)


class _ScoresOnly:
    """Has a decision function but no predict."""

    n_features_in_ = 66

    def decision_function(self, features):
        return features.sum(axis=1)


@pytest.mark.parametrize(
    ("model", "missing"),
    [
        ({"weights": [1, 2]}, "decision_function or predict"),
        (PolynomialFeatures(), "decision_function or predict"),
        (_ScoresOnly(), "predict"),
    ],
)
def test_object_that_cannot_score_is_refused(preprocessing, model, missing):
    with pytest.raises(
        TypeError, match=rf"\({type(model).__name__}\) has no {missing}; expected"
    ):
        check_model(model, preprocessing)


@pytest.mark.parametrize("n_features_in", [1, 3, 5])
@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize("interaction_only", [False, True])
@pytest.mark.parametrize("include_bias", [False, True])
def test_count_features_out_agrees_with_scikit_learn(
    n_features_in, degree, interaction_only, include_bias
):
    args = {
        "degree": degree,
        "interaction_only": interaction_only,
        "include_bias": include_bias,
    }
    expansion = PolynomialFeatures(**args).fit(np.zeros((1, n_features_in)))
    steps = [ChainStep("poly", "PolynomialFeatures", args)]
    assert count_features_out(steps, n_features_in) == expansion.n_output_features_


def test_unfitted_model_is_named_as_such(preprocessing):
    with pytest.raises(ValueError, match=r"\(OneClassSVM\) is not fitted"):
        check_model(OneClassSVM(), preprocessing)
