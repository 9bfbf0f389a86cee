"""Nodes of the modelling pipeline: check the anomaly model, score every reading."""

from __future__ import annotations

import logging
from typing import Any

from shape.chain import FittedChain, count_features_out, parse_chain_spec
from shape.engines import get_engine

logger = logging.getLogger(__name__)


def check_model(anomaly_model: Any, preprocessing: dict[str, Any]) -> Any:
    """Checks the anomaly model can score what the chain spec produces.

    The node reads no data, only the model and the parameters, so a wrong model
    stops the run before anything is written.

    Args:
        anomaly_model: The fitted estimator loaded from the catalog, such as the
            challenge's ``OneClassSVM``.
        preprocessing: The ``preprocessing`` parameters; reads ``chain`` and
            ``feature_columns``.

    Returns:
        ``anomaly_model`` itself, now known to fit the chain.

    Raises:
        TypeError: When the model has no ``decision_function`` or ``predict``.
        ValueError: When the model expects another number of features than the
            chain produces; gives both numbers.
    """
    missing = [
        method
        for method in ("decision_function", "predict")
        if not callable(getattr(anomaly_model, method, None))
    ]
    if missing:
        raise TypeError(
            f"The anomaly model ({type(anomaly_model).__name__}) has no "
            f"{' or '.join(missing)}; expected a fitted scikit-learn outlier "
            "detector such as OneClassSVM."
        )

    steps = parse_chain_spec(preprocessing["chain"])
    produced = count_features_out(steps, len(preprocessing["feature_columns"]))
    expected = getattr(anomaly_model, "n_features_in_", None)
    if expected is None:
        raise ValueError(
            f"The anomaly model ({type(anomaly_model).__name__}) is not fitted: "
            "it has no n_features_in_. Expected a model fitted on the chain's "
            f"{produced} features."
        )
    if expected != produced:
        raise ValueError(
            f"The anomaly model expects {expected} input features but the chain "
            f"produces {produced} (steps {[step.name for step in steps]} on "
            f"{len(preprocessing['feature_columns'])} columns)."
        )

    logger.info(
        "Model %s takes the chain's %d features",
        type(anomaly_model).__name__,
        expected,
    )
    return anomaly_model


def score_readings(
    model_input_table: Any, scoring_model: Any, fitted_chain: FittedChain, engine: str
) -> Any:
    """Scores every reading with the anomaly model.

    Args:
        model_input_table: Output of ``transform_readings``: reading columns
            then the model input features.
        scoring_model: Output of ``check_model``.
        fitted_chain: Output of ``fit_chain``; gives the number of features.
        engine: The ``engine`` parameter.

    Returns:
        One row per reading: the reading columns, ``prediction`` (int, 1 for an
        inlier, -1 for an anomaly) and ``anomaly_score`` (float, the model's
        decision function; anomalies score 0 or below).
    """
    return get_engine(engine).score_features(
        model_input_table, scoring_model, fitted_chain.n_features_out
    )
