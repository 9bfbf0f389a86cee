"""The scikit-learn engine: pandas frames in memory, scikit-learn estimators.

Fitting builds the scikit-learn estimators named by the chain spec, fits them in
order and keeps their fitted attributes as a ``FittedChain``. Applying a chain
rebuilds the estimators from those attributes, so a chain fitted by the Spark
engine, or read back from disk, transforms exactly as a freshly fitted one.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import ChainStep, FittedChain, FittedStep
from shape.engines import (
    REJECTED_REASON_COLUMN,
    PredictionCounts,
    ReadingsCheck,
    SplitReadings,
    feature_names,
)

logger = logging.getLogger(__name__)

_ESTIMATORS = {
    "PolynomialFeatures": PolynomialFeatures,
    "QuantileTransformer": QuantileTransformer,
    "StandardScaler": StandardScaler,
}


def select_readings(
    readings: pd.DataFrame, time_column: str, feature_columns: list[str]
) -> pd.DataFrame:
    """Keeps the time and feature columns, with the features cast to float64.

    Args:
        readings: Raw table, one row per sensor reading.
        time_column: Name of the time column, carried through unchanged.
        feature_columns: Names of the numeric vibration columns.

    Returns:
        A new frame with ``time_column`` then ``feature_columns``, the features
        as float64; missing values of nullable dtypes (``Int64``) become NaN.

    Raises:
        TypeError: When a feature column is neither float nor integer (text,
            booleans, dates, complex numbers); names the column and its dtype.
    """
    for column in feature_columns:
        dtype = readings[column].dtype
        if not (
            pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
        ):
            raise TypeError(
                f"Column '{column}' must hold numbers (float or integer); "
                f"found dtype {dtype}."
            )

    selected = readings[[time_column]].copy()
    for column in feature_columns:
        # Nullable dtypes (Int64, Float64) turn their missing values into NaN,
        # which the row checks then count as invalid.
        selected[column] = readings[column].to_numpy(dtype="float64", na_value=np.nan)
    return selected.reset_index(drop=True)


def check_readings(readings: pd.DataFrame, feature_columns: list[str]) -> ReadingsCheck:
    """Counts rows, and rows and values that are missing or not finite.

    Args:
        readings: Output of ``select_readings``.
        feature_columns: Columns that must hold finite numbers.

    Returns:
        The counts; ``invalid_by_column`` lists only columns with invalid values.
    """
    invalid = ~np.isfinite(readings[feature_columns].to_numpy(dtype="float64"))
    per_column = invalid.sum(axis=0)
    return ReadingsCheck(
        rows=len(readings),
        invalid_rows=int(invalid.any(axis=1).sum()),
        invalid_by_column={
            column: int(count)
            for column, count in zip(feature_columns, per_column, strict=True)
            if count
        },
    )


def split_invalid_rows(
    readings: pd.DataFrame, feature_columns: list[str]
) -> SplitReadings:
    """Separates rows with a missing or non-finite feature value from the rest.

    Args:
        readings: Output of ``select_readings``.
        feature_columns: Columns that must hold finite numbers.

    Returns:
        ``valid``: the rows with only finite values, index reset; ``rejected``:
        the other rows with ``rejected_reason`` naming their invalid columns.
    """
    invalid = ~np.isfinite(readings[feature_columns].to_numpy(dtype="float64"))
    invalid_rows = invalid.any(axis=1)

    rejected = readings[invalid_rows].reset_index(drop=True)
    names = np.array(feature_columns, dtype=object)
    rejected[REJECTED_REASON_COLUMN] = pd.Series(
        [
            "missing or non-finite: " + ", ".join(names[row])
            for row in invalid[invalid_rows]
        ],
        dtype="object",
    )
    return SplitReadings(
        valid=readings[~invalid_rows].reset_index(drop=True), rejected=rejected
    )


def fit_chain(
    readings: pd.DataFrame, steps: list[ChainStep], feature_columns: list[str]
) -> FittedChain:
    """Fits the chain on the feature columns of ``readings``.

    ``QuantileTransformer`` is given ``n_quantiles = min(n_quantiles, n_rows)``,
    which is what scikit-learn falls back to itself, but without its warning.

    Args:
        readings: Validated readings, one row per reading.
        steps: The parsed chain spec.
        feature_columns: Columns the first step reads, in order.

    Returns:
        The fitted chain.
    """
    features = readings[feature_columns].to_numpy(dtype="float64")
    n_rows = features.shape[0]

    fitted_steps = []
    for step in steps:
        estimator = _ESTIMATORS[step.transformer](**_fit_args(step, n_rows))
        n_features_in = features.shape[1]
        features = estimator.fit_transform(features)
        fitted_steps.append(
            FittedStep(
                name=step.name,
                transformer=step.transformer,
                args=dict(step.args),
                n_features_in=n_features_in,
                n_features_out=features.shape[1],
                state=_fitted_state(estimator),
            )
        )
        logger.debug(
            "Fitted step '%s': %d -> %d features",
            step.name,
            n_features_in,
            features.shape[1],
        )

    return FittedChain(
        feature_columns=list(feature_columns),
        steps=fitted_steps,
        n_rows_fitted=n_rows,
        fitted_by="sklearn",
    )


def _fit_args(step: ChainStep, n_rows: int) -> dict[str, Any]:
    args = dict(step.args)
    if step.transformer == "QuantileTransformer":
        args["n_quantiles"] = min(args["n_quantiles"], n_rows)
    return args


def _fitted_state(estimator: Any) -> dict[str, Any]:
    if isinstance(estimator, QuantileTransformer):
        return {
            "quantiles": estimator.quantiles_.tolist(),
            "references": estimator.references_.tolist(),
        }
    if isinstance(estimator, StandardScaler):
        return {
            "mean": _list_or_none(estimator.mean_),
            "var": _list_or_none(estimator.var_),
            "scale": _list_or_none(estimator.scale_),
            "n_samples_seen": int(estimator.n_samples_seen_),
        }
    return {}


def _list_or_none(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else values.tolist()


def build_pipeline(chain: FittedChain) -> Pipeline:
    """Rebuilds fitted scikit-learn estimators from a chain's stored state.

    Args:
        chain: A fitted chain, from either engine.

    Returns:
        A fitted ``sklearn.pipeline.Pipeline`` of the chain's steps.
    """
    return Pipeline([(step.name, _restore_estimator(step)) for step in chain.steps])


def _restore_estimator(step: FittedStep) -> Any:
    if step.transformer == "PolynomialFeatures":
        # The expansion learns only its input width, so fitting it on one row of
        # zeros restores it exactly.
        estimator = PolynomialFeatures(**step.args)
        return estimator.fit(np.zeros((1, step.n_features_in)))

    if step.transformer == "QuantileTransformer":
        references = np.asarray(step.state["references"], dtype="float64")
        args = dict(step.args, n_quantiles=len(references))
        estimator = QuantileTransformer(**args)
        estimator.quantiles_ = np.asarray(step.state["quantiles"], dtype="float64")
        estimator.references_ = references
        estimator.n_quantiles_ = len(references)
    else:
        estimator = StandardScaler(**step.args)
        estimator.mean_ = _array_or_none(step.state["mean"])
        estimator.var_ = _array_or_none(step.state["var"])
        estimator.scale_ = _array_or_none(step.state["scale"])
        estimator.n_samples_seen_ = step.state["n_samples_seen"]
    estimator.n_features_in_ = step.n_features_in
    return estimator


def _array_or_none(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype="float64")


def transform_readings(readings: pd.DataFrame, chain: FittedChain) -> pd.DataFrame:
    """Applies a fitted chain to validated readings.

    Args:
        readings: Validated readings with the chain's feature columns.
        chain: The fitted chain.

    Returns:
        A new frame: the columns of ``readings`` followed by the model input
        features ``feature_00`` … (float64), one row per reading.
    """
    features = readings[chain.feature_columns].to_numpy(dtype="float64")
    transformed = build_pipeline(chain).transform(features)

    feature_frame = pd.DataFrame(
        transformed, columns=feature_names(chain.n_features_out), index=readings.index
    )
    return pd.concat([readings, feature_frame], axis=1)


def score_features(
    model_input_table: pd.DataFrame, model: Any, n_features: int
) -> pd.DataFrame:
    """Scores every row with the anomaly model.

    Args:
        model_input_table: Output of ``transform_readings``.
        model: A fitted estimator with ``decision_function``, such as
            ``OneClassSVM``; a row is an anomaly when its score is not above 0.
        n_features: Number of model input features in the table.

    Returns:
        A new frame with the reading columns (every column that is not a model
        input feature), ``prediction`` (int64: 1 inlier, -1 anomaly) and
        ``anomaly_score`` (float64, the decision function).
    """
    names = feature_names(n_features)
    scores = model.decision_function(model_input_table[names].to_numpy())

    predictions = model_input_table.drop(columns=names)
    # libsvm's one-class predict is "inlier when the decision value is above 0",
    # computed from the same decision values; deriving it here saves a second
    # pass through the support vectors.
    predictions["prediction"] = np.where(scores > 0, 1, -1).astype("int64")
    predictions["anomaly_score"] = scores.astype("float64")
    return predictions


def count_predictions(predictions: pd.DataFrame) -> PredictionCounts:
    """Counts scored rows and rows per class."""
    anomalies = int((predictions["prediction"] == -1).sum())
    return PredictionCounts(
        rows=len(predictions),
        anomalies=anomalies,
        inliers=len(predictions) - anomalies,
    )


def select_anomalies(
    predictions: pd.DataFrame,
    time_column: str,
    feature_columns: list[str],
    first_row: int = 0,
) -> pd.DataFrame:
    """Keeps the anomalous rows of a predictions frame, for the database.

    Works on one frame at a time, so a table scored in batches can be handled
    batch by batch with ``first_row`` set to the batch's offset.

    Args:
        predictions: Output of ``score_features``: ``time_column``,
            ``feature_columns``, ``prediction`` and ``anomaly_score``, one row
            per reading, in table order.
        time_column: Name of the time column (``preprocessing.time_column``).
        feature_columns: Names of the input feature columns.
        first_row: Position of the frame's first row in the whole table.

    Returns:
        A new frame, one row per anomaly (``prediction == -1``):
        ``row_number`` (int64, position in the whole table), ``time``,
        ``feature_columns`` and ``anomaly_score``, all float64.
    """
    is_anomaly = (predictions["prediction"] == -1).to_numpy()
    rows = predictions.loc[is_anomaly, [time_column, *feature_columns]]

    anomalies = pd.DataFrame(
        {"row_number": np.flatnonzero(is_anomaly).astype("int64") + first_row}
    )
    anomalies["time"] = rows[time_column].to_numpy(dtype="float64")
    for column in feature_columns:
        anomalies[column] = rows[column].to_numpy(dtype="float64")
    anomalies["anomaly_score"] = predictions.loc[is_anomaly, "anomaly_score"].to_numpy(
        dtype="float64"
    )
    return anomalies


def sample_for_plots(predictions: pd.DataFrame, max_inliers: int) -> pd.DataFrame:
    """Keeps every anomaly and at most ``max_inliers`` inliers, for plotting.

    The inliers kept are those whose row hash is smallest, so the choice depends
    only on the rows' values: sampling batches one by one and then sampling the
    concatenation of the results keeps exactly the rows that sampling the whole
    table at once keeps. A batch-wise reader can therefore apply this function
    to each batch and to the running result, and never hold more than
    ``max_inliers`` inliers plus the anomalies.

    Args:
        predictions: Output of ``score_features`` (or one batch of it): the
            reading columns, ``prediction`` (1 inlier, -1 anomaly) and
            ``anomaly_score``.
        max_inliers: Most inlier rows to keep; must be at least 0.

    Returns:
        A new frame with the columns of ``predictions`` and a fresh index: every
        row with ``prediction == -1`` and up to ``max_inliers`` other rows, in
        their original order.
    """
    keep = predictions["prediction"].to_numpy() == -1
    inlier_positions = np.flatnonzero(~keep)
    if len(inlier_positions) > max_inliers:
        keys = pd.util.hash_pandas_object(
            predictions.iloc[inlier_positions], index=False
        ).to_numpy()
        inlier_positions = inlier_positions[
            np.argpartition(keys, max_inliers)[:max_inliers]
        ]
    keep[inlier_positions] = True

    return predictions[keep].reset_index(drop=True)
