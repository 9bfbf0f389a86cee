"""The Spark engine: Spark DataFrames, computed on the executors.

Every function here takes and returns Spark frames and leaves the table where
it is; only small fitted state comes back to the driver:

- the row count and the invalid-value counts (one aggregation);
- for a ``QuantileTransformer`` step, the rows its quantiles are computed
  from: every row when the table has at most ``subsample`` rows, as
  scikit-learn does, else a random sample of exactly ``subsample`` rows;
- for a ``StandardScaler`` step, one (count, mean, sum of squared deviations)
  triple per partition, merged on the driver into the population variance.

Applying a chain and scoring run the sklearn engine's own array functions
inside ``mapInPandas``, one Arrow batch at a time (``sklearn_engine.
array_pipeline`` from the ``FittedChain`` state, ``sklearn_engine.
decision_scores`` with the model broadcast). The numbers are then those of the
sklearn engine by construction, which are scikit-learn's:
polynomial column order and bias column, the quantile transform's two-sided
interpolation, clipping and normal output, the scaler's population standard
deviation. Spark's own ``PolynomialExpansion``, ``QuantileDiscretizer`` and
``StandardScaler`` differ on each of these points, so none of them is used.

The executors need the same Python packages as the driver (``shape``,
scikit-learn, pandas, pyarrow); ``shape.hooks.spark`` points them at the
driver's interpreter unless ``spark.pyspark.python`` is configured.

Spark does not keep the row order of a table it reads back from several part
files (it schedules the largest files first). Rows keep their reading columns,
so the time column identifies them; sort by it when order matters.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sklearn.preprocessing import PolynomialFeatures, QuantileTransformer

from shape.chain import ChainStep, FittedChain, FittedStep
from shape.engines import (
    REJECTED_REASON_COLUMN,
    PredictionCounts,
    ReadingsCheck,
    SplitReadings,
    feature_names,
    sklearn_engine,
)

# The plot sample lives in its own module; imported here as part of this engine.
from shape.engines.spark_sampling import sample_for_plots  # noqa: F401 (re-export)

logger = logging.getLogger(__name__)

#: Value of ``FittedChain.fitted_by`` for chains fitted here.
ENGINE_NAME = "sparkml"


def _column(name: str) -> Column:
    # Backticks make Spark take the name literally, dots and all.
    return F.col("`" + name.replace("`", "``") + "`")


def select_readings(
    readings: SparkDataFrame, time_column: str, feature_columns: list[str]
) -> SparkDataFrame:
    """Keeps the time and feature columns, with the features cast to double.

    Args:
        readings: Raw table, one row per sensor reading.
        time_column: Name of the time column, carried through unchanged.
        feature_columns: Names of the numeric vibration columns.

    Returns:
        A new frame with ``time_column`` then ``feature_columns``, the features
        as double (float64).

    Raises:
        TypeError: When a feature column is not numeric; names the column and
            its Spark type.
    """
    types = {field.name: field.dataType for field in readings.schema.fields}
    for column in feature_columns:
        # Spark's BooleanType is not a NumericType, so booleans are refused too.
        if not isinstance(types[column], T.NumericType):
            raise TypeError(
                f"Column '{column}' must hold numbers (float or integer); "
                f"found Spark type {types[column].simpleString()}."
            )

    return readings.select(
        _column(time_column),
        *[_column(name).cast(T.DoubleType()).alias(name) for name in feature_columns],
    )


def _is_invalid(column: Column) -> Column:
    return column.isNull() | F.isnan(column) | (F.abs(column) == float("inf"))


def _invalid_conditions(feature_columns: list[str]) -> tuple[list[Column], Column]:
    """One "invalid value" condition per column, and their union for a row."""
    invalid = [_is_invalid(_column(name)) for name in feature_columns]
    return invalid, functools.reduce(operator.or_, invalid)


def _count_if(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0))


def check_readings(
    readings: SparkDataFrame, feature_columns: list[str]
) -> ReadingsCheck:
    """Counts rows, and rows and values that are missing or not finite.

    One aggregation on the executors; only the counts reach the driver.

    Args:
        readings: Output of ``select_readings``.
        feature_columns: Columns that must hold finite numbers.

    Returns:
        The counts; ``invalid_by_column`` lists only columns with invalid values.
    """
    invalid, any_invalid = _invalid_conditions(feature_columns)

    counts = readings.agg(
        F.count(F.lit(1)).alias("rows"),
        _count_if(any_invalid).alias("invalid_rows"),
        *[_count_if(c).alias(f"invalid_{i}") for i, c in enumerate(invalid)],
    ).first()
    return ReadingsCheck(
        rows=int(counts["rows"]),
        invalid_rows=int(counts["invalid_rows"]),
        invalid_by_column={
            name: int(counts[f"invalid_{index}"])
            for index, name in enumerate(feature_columns)
            if counts[f"invalid_{index}"]
        },
    )


def split_invalid_rows(
    readings: SparkDataFrame, feature_columns: list[str]
) -> SplitReadings:
    """Separates rows with a missing or non-finite feature value from the rest.

    Both frames are lazy filters of ``readings``; nothing reaches the driver.

    Args:
        readings: Output of ``select_readings``.
        feature_columns: Columns that must hold finite numbers.

    Returns:
        ``valid``: the rows with only finite values; ``rejected``: the other
        rows with ``rejected_reason`` naming their invalid columns, worded as
        the sklearn engine words it.
    """
    invalid, any_invalid = _invalid_conditions(feature_columns)

    # concat_ws skips nulls, so only the invalid columns' names are joined.
    reason = F.concat(
        F.lit("missing or non-finite: "),
        F.concat_ws(
            ", ",
            *[
                F.when(condition, F.lit(name))
                for name, condition in zip(feature_columns, invalid, strict=True)
            ],
        ),
    )
    return SplitReadings(
        valid=readings.filter(~any_invalid),
        rejected=readings.filter(any_invalid).withColumn(
            REJECTED_REASON_COLUMN, reason
        ),
    )


def fit_chain(
    readings: SparkDataFrame, steps: list[ChainStep], feature_columns: list[str]
) -> FittedChain:
    """Fits the chain on the feature columns of ``readings``.

    Each step is fitted on the output of the steps before it, as a
    scikit-learn ``Pipeline`` would be:

    - ``PolynomialFeatures`` learns only its input width;
    - ``QuantileTransformer`` gets ``n_quantiles = min(n_quantiles, n_rows)``
      and is fitted by scikit-learn on the driver, on every row when the table
      has at most ``subsample`` rows (the same quantiles as the scikit-learn
      engine, to the bit), else on ``subsample`` rows drawn at random on the
      executors (seeded by ``random_state``; a different draw from
      scikit-learn's, as with any other seed);
    - ``StandardScaler`` gets its mean and population variance from one pass on
      the executors, merged on the driver.

    Args:
        readings: Validated readings, one row per reading.
        steps: The parsed chain spec.
        feature_columns: Columns the first step reads, in order.

    Returns:
        The fitted chain, with ``fitted_by = "sparkml"``.
    """
    features = readings.select(*[_column(name) for name in feature_columns])
    n_rows = features.count()

    fitted_steps: list[FittedStep] = []
    n_features_in = len(feature_columns)
    for step in steps:
        before = _fitted_prefix(feature_columns, fitted_steps, n_rows)
        state, n_features_out = _fit_step(step, features, before, n_features_in, n_rows)
        fitted_steps.append(
            FittedStep(
                name=step.name,
                transformer=step.transformer,
                args=dict(step.args),
                n_features_in=n_features_in,
                n_features_out=n_features_out,
                state=state,
            )
        )
        logger.debug(
            "Fitted step '%s': %d -> %d features",
            step.name,
            n_features_in,
            n_features_out,
        )
        n_features_in = n_features_out

    return FittedChain(
        feature_columns=list(feature_columns),
        steps=fitted_steps,
        n_rows_fitted=n_rows,
        fitted_by=ENGINE_NAME,
    )


#: A function from raw feature rows (n_rows x n_columns) to a step's input.
_Transform = Callable[[np.ndarray], np.ndarray]


def _fitted_prefix(
    feature_columns: list[str], fitted_steps: list[FittedStep], n_rows: int
) -> dict[str, Any] | None:
    """The steps fitted so far, as a plain mapping that travels to executors."""
    if not fitted_steps:
        return None
    chain = FittedChain(list(feature_columns), list(fitted_steps), n_rows, ENGINE_NAME)
    return chain.to_dict()


def _transform_with(chain_data: dict[str, Any] | None) -> _Transform:
    if chain_data is None:
        return lambda features: features
    # The sklearn engine's own arithmetic, so both engines compute every row
    # the same way and agree exactly.
    return sklearn_engine.array_pipeline(FittedChain.from_dict(chain_data).steps)


def _fit_step(
    step: ChainStep,
    features: SparkDataFrame,
    before: dict[str, Any] | None,
    n_features_in: int,
    n_rows: int,
) -> tuple[dict[str, Any], int]:
    if step.transformer == "PolynomialFeatures":
        expansion = PolynomialFeatures(**step.args).fit(np.zeros((1, n_features_in)))
        return {}, int(expansion.n_output_features_)

    if step.transformer == "QuantileTransformer":
        sample = _quantile_sample(
            features, n_rows, step.args["subsample"], step.args["random_state"]
        )
        args = dict(step.args, n_quantiles=min(step.args["n_quantiles"], n_rows))
        transformer = QuantileTransformer(**args).fit(_transform_with(before)(sample))
        state = {
            "quantiles": transformer.quantiles_.tolist(),
            "references": transformer.references_.tolist(),
        }
        return state, n_features_in

    moments = _moments(features, before, step.args)
    return _scaler_state(step.args, moments, n_rows), n_features_in


def _quantile_sample(
    features: SparkDataFrame, n_rows: int, subsample: int, seed: int | None
) -> np.ndarray:
    """Brings to the driver the rows a quantile step is fitted on."""
    if n_rows > subsample:
        # A top-k on a random key: each partition keeps its k smallest keys,
        # so no more than k rows per partition travel, and exactly k arrive.
        features = features.orderBy(F.rand(seed)).limit(subsample)
    sample = features.toPandas().to_numpy(dtype="float64")
    logger.debug("Quantile sample of %d of %d rows", len(sample), n_rows)
    return sample


class _Moments(NamedTuple):
    """Count, mean and sum of squared deviations of each column."""

    count: int
    mean: np.ndarray
    m2: np.ndarray


def _batch_moments(values: np.ndarray) -> _Moments:
    # The corrected two-pass sums of scikit-learn's _incremental_mean_and_var:
    # the second term removes the rounding error left in the first pass' mean.
    count = values.shape[0]
    mean = values.sum(axis=0) / count
    deviations = values - mean
    correction = deviations.sum(axis=0)
    m2 = (deviations**2).sum(axis=0) - correction**2 / count
    return _Moments(count, mean, m2)


def _merge_moments(left: _Moments, right: _Moments) -> _Moments:
    # Chan, Golub and LeVeque's pairwise update, as scikit-learn merges batches.
    count = left.count + right.count
    delta = right.mean - left.mean
    mean = left.mean + delta * (right.count / count)
    m2 = left.m2 + right.m2 + delta**2 * (left.count * right.count / count)
    return _Moments(count, mean, m2)


_MOMENTS_SCHEMA = "count long, mean array<double>, m2 array<double>"


def _moments(
    features: SparkDataFrame, before: dict[str, Any] | None, args: dict[str, Any]
) -> _Moments | None:
    """Count, mean and M2 of the step's input, from one pass on the executors."""
    if not (args["with_mean"] or args["with_std"]):
        return None

    def _partition_moments(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        transform = _transform_with(before)
        total = None
        for batch in batches:
            if batch.empty:
                continue
            part = _batch_moments(transform(batch.to_numpy(dtype="float64")))
            total = part if total is None else _merge_moments(total, part)
        if total is not None:
            yield pd.DataFrame(
                {"count": [total.count], "mean": [total.mean], "m2": [total.m2]}
            )

    partials = features.mapInPandas(_partition_moments, _MOMENTS_SCHEMA).collect()
    merged = None
    for row in partials:
        part = _Moments(
            int(row["count"]),
            np.asarray(row["mean"], dtype="float64"),
            np.asarray(row["m2"], dtype="float64"),
        )
        merged = part if merged is None else _merge_moments(merged, part)
    logger.debug("Scaler moments merged from %d partitions", len(partials))
    return merged


def _scaler_state(
    args: dict[str, Any], moments: _Moments | None, n_rows: int
) -> dict[str, Any]:
    """``StandardScaler``'s fitted attributes, as scikit-learn 1.6 sets them."""
    if moments is None:
        # scikit-learn keeps no statistics when both options are off, only the
        # row count.
        return {"mean": None, "var": None, "scale": None, "n_samples_seen": n_rows}

    count, mean = moments.count, moments.mean
    var = moments.m2 / count
    state: dict[str, Any] = {
        "mean": mean.tolist(),
        "var": None,
        "scale": None,
        "n_samples_seen": count,
    }
    if args["with_std"]:
        # A variance within the rounding error of the two-pass algorithm is a
        # constant feature, scaled by 1 (scikit-learn's _is_constant_feature).
        eps = np.finfo(np.float64).eps
        constant = var <= count * eps * var + (count * mean * eps) ** 2
        scale = np.sqrt(var)
        scale[constant] = 1.0
        state["var"] = var.tolist()
        state["scale"] = scale.tolist()
    return state


def transform_readings(readings: SparkDataFrame, chain: FittedChain) -> SparkDataFrame:
    """Applies a fitted chain to validated readings, batch by batch.

    Args:
        readings: Validated readings with the chain's feature columns.
        chain: The fitted chain, from either engine.

    Returns:
        A new frame: the columns of ``readings`` followed by the model input
        features ``feature_00`` … (double), one row per reading.
    """
    names = feature_names(chain.n_features_out)
    schema = T.StructType(
        [
            *readings.schema.fields,
            *[T.StructField(name, T.DoubleType(), True) for name in names],
        ]
    )
    chain_data = chain.to_dict()
    inputs = list(chain.feature_columns)

    def _transform_partition(
        batches: Iterator[pd.DataFrame],
    ) -> Iterator[pd.DataFrame]:
        transform = _transform_with(chain_data)
        for batch in batches:
            if batch.empty:
                continue
            transformed = transform(batch[inputs].to_numpy(dtype="float64"))
            features = pd.DataFrame(transformed, columns=names)
            yield pd.concat([batch.reset_index(drop=True), features], axis=1)

    return readings.mapInPandas(_transform_partition, schema)


def score_features(
    model_input_table: SparkDataFrame, model: Any, n_features: int
) -> SparkDataFrame:
    """Scores every row with the anomaly model, on the executors.

    The model is broadcast once to every executor and applied to one Arrow
    batch at a time.

    Args:
        model_input_table: Output of ``transform_readings``.
        model: A fitted estimator with ``decision_function``, such as
            ``OneClassSVM``; a row is an anomaly when its score is not above 0.
        n_features: Number of model input features in the table.

    Returns:
        A new frame with the reading columns (every column that is not a model
        input feature), ``prediction`` (long: 1 inlier, -1 anomaly) and
        ``anomaly_score`` (double, the decision function).
    """
    names = feature_names(n_features)
    kept = [
        field for field in model_input_table.schema.fields if field.name not in names
    ]
    kept_names = [field.name for field in kept]
    schema = T.StructType(
        [
            *kept,
            T.StructField("prediction", T.LongType(), True),
            T.StructField("anomaly_score", T.DoubleType(), True),
        ]
    )
    shared_model = model_input_table.sparkSession.sparkContext.broadcast(model)

    def _score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        estimator = shared_model.value
        for batch in batches:
            if batch.empty:
                continue
            scores = sklearn_engine.decision_scores(
                estimator, batch[names].to_numpy(dtype="float64")
            )
            scored = batch[kept_names].reset_index(drop=True)
            # As in the scikit-learn engine: libsvm's one-class predict is
            # "inlier when the decision value is above 0".
            scored["prediction"] = np.where(scores > 0, 1, -1).astype("int64")
            scored["anomaly_score"] = scores.astype("float64")
            yield scored

    return model_input_table.mapInPandas(_score_partition, schema)


def count_predictions(predictions: SparkDataFrame) -> PredictionCounts:
    """Counts scored rows and rows per class, in one aggregation."""
    counts = predictions.agg(
        F.count(F.lit(1)).alias("rows"),
        _count_if(F.col("prediction") == -1).alias("anomalies"),
    ).first()
    rows, anomalies = int(counts["rows"]), int(counts["anomalies"])
    return PredictionCounts(rows=rows, anomalies=anomalies, inliers=rows - anomalies)


def select_anomalies(
    predictions: SparkDataFrame,
    time_column: str,
    feature_columns: list[str],
    first_row: int = 0,
) -> pd.DataFrame:
    """Brings the anomalous rows of a predictions table to the driver.

    Spark does not keep row order when it reads a folder of part files back,
    so a row's position is its rank by ``time_column``: the readings' time is
    unique and increasing, which makes that rank the row's position in the
    input table. The sort is distributed (range partitioning); only anomalies
    reach the driver.

    Args:
        predictions: Output of ``score_features``.
        time_column: Name of the time column (``preprocessing.time_column``).
        feature_columns: Names of the input feature columns.
        first_row: Added to every row number, as in the sklearn engine.

    Returns:
        The frame the sklearn engine's ``select_anomalies`` returns: one row per
        anomaly with ``row_number``, ``time``, the feature columns and
        ``anomaly_score``, in row order.
    """
    columns = [time_column, *feature_columns, "anomaly_score"]
    ranked = (
        predictions.orderBy(_column(time_column))
        .select(*[_column(name) for name in [*columns, "prediction"]])
        .rdd.zipWithIndex()
    )
    anomalous = ranked.filter(lambda pair: pair[0]["prediction"] == -1).map(
        lambda pair: (pair[1] + first_row, *(pair[0][name] for name in columns))
    )

    anomalies = pd.DataFrame(
        anomalous.collect(), columns=["row_number", "time", *columns[1:]]
    )
    anomalies["row_number"] = anomalies["row_number"].astype("int64")
    for column in ["time", *columns[1:]]:
        anomalies[column] = anomalies[column].astype("float64")
    return anomalies
