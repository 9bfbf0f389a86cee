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
on the executors' Python workers, one Arrow batch at a time
(``sklearn_engine.array_pipeline`` from the ``FittedChain`` state,
``sklearn_engine.chain_scores`` with the model broadcast). The numbers are
then those of the sklearn engine by construction, which are scikit-learn's:
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
import math
import operator
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import TaskContext
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
        TypeError: When a feature column is not numeric, or the time column
            neither numeric nor a timestamp or date; names the column and its
            Spark type.
    """
    types = {field.name: field.dataType for field in readings.schema.fields}
    time_type = types[time_column]
    if not isinstance(
        time_type, T.NumericType | T.TimestampType | T.TimestampNTZType | T.DateType
    ):
        raise TypeError(
            f"Time column '{time_column}' must hold numbers or timestamps; "
            f"found Spark type {time_type.simpleString()}."
        )
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


#: Rows of the frames ``check_readings`` found without an invalid value, in
#: this process. ``split_invalid_rows`` passes such a frame on unchanged, and
#: ``fit_chain`` then needs no pass to count it.
#: Weak keys: an entry goes when its frame does.
_ROW_COUNTS: weakref.WeakKeyDictionary[SparkDataFrame, int] = (
    weakref.WeakKeyDictionary()
)


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
    if int(counts["invalid_rows"]) == 0:
        _ROW_COUNTS[readings] = int(counts["rows"])
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
    readings: SparkDataFrame, feature_columns: list[str], any_invalid: bool = True
) -> SplitReadings:
    """Separates rows with a missing or non-finite feature value from the rest.

    Both frames are lazy filters of ``readings``; nothing reaches the driver.

    Args:
        readings: Output of ``select_readings``.
        feature_columns: Columns that must hold finite numbers.
        any_invalid: False when ``check_readings`` found no invalid row:
            ``valid`` is then ``readings`` itself and ``rejected`` an empty
            frame of the same columns, which Spark writes without reading the
            input again.

    Returns:
        ``valid``: the rows with only finite values; ``rejected``: the other
        rows with ``rejected_reason`` naming their invalid columns, worded as
        the sklearn engine words it.
    """
    invalid, is_invalid = _invalid_conditions(feature_columns)

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
    if not any_invalid:
        # limit(0) is planned as an empty relation: no input file is opened.
        return SplitReadings(
            valid=readings,
            rejected=readings.limit(0).withColumn(REJECTED_REASON_COLUMN, reason),
        )
    return SplitReadings(
        valid=readings.filter(~is_invalid),
        rejected=readings.filter(is_invalid).withColumn(REJECTED_REASON_COLUMN, reason),
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
    n_rows = _ROW_COUNTS.get(readings)
    if n_rows is None:
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


def _limit_threads_to_task() -> None:
    """Lets the compiled kernels of this Python worker use the task's cores only.

    numba spreads each kernel over every core of the machine by default; with
    one Spark task per core already running, that puts several threads on
    every core, which then wait for each other (about twice the time, measured
    on 2 cores). A task gets ``spark.task.cpus`` cores (1 by default).
    """
    context = TaskContext.get()
    if context is not None:
        numba.set_num_threads(
            max(1, min(context.cpus(), numba.config.NUMBA_NUM_THREADS))
        )


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
    """Brings to the driver the rows a quantile step is fitted on.

    Above ``subsample`` rows, each row is drawn with a probability that gives
    a little more than ``subsample`` rows (the margin is ten standard
    deviations of the drawn count), and the driver keeps ``subsample`` of
    those, chosen uniformly: a uniform sample without replacement, without
    sorting the table. In the unlikely case that too few rows were drawn, the
    rows with the smallest random keys are taken instead (a top-k, which needs
    a pass that keeps k rows per partition).
    """
    if n_rows <= subsample:
        return _logged_sample(features.toPandas().to_numpy(dtype="float64"), n_rows)
    fraction = min(1.0, (subsample + 10 * math.sqrt(subsample) + 100) / n_rows)
    drawn = features.sample(fraction=fraction, seed=seed).toPandas()
    if len(drawn) < subsample:
        drawn = features.orderBy(F.rand(seed)).limit(subsample).toPandas()
    kept = np.random.default_rng(seed).choice(len(drawn), subsample, replace=False)
    kept.sort()
    return _logged_sample(drawn.to_numpy(dtype="float64")[kept], n_rows)


def _logged_sample(sample: np.ndarray, n_rows: int) -> np.ndarray:
    logger.debug("Quantile sample of %d of %d rows", len(sample), n_rows)
    return sample


class _Moments(NamedTuple):
    """Count, mean and sum of squared deviations of each column."""

    count: int
    mean: np.ndarray
    m2: np.ndarray


def _batch_moments(
    values: np.ndarray, first: np.ndarray, second: np.ndarray
) -> _Moments:
    """Moments of the columns of ``polynomial_degree2(values, first, second)``.

    From the sklearn engine's per-batch sums (``sklearn_engine.BatchSums``):
    the expanded columns are summed as they are computed, in numpy's order, and
    ``m2`` is scikit-learn's corrected two-pass sum.
    """
    sums = sklearn_engine.BatchSums.of(values, first, second, with_variance=True)
    return _Moments(sums.n_rows, sums.sums / sums.n_rows, sums.m2)


def _merge_moments(left: _Moments, right: _Moments) -> _Moments:
    # Chan, Golub and LeVeque's pairwise update, as scikit-learn merges batches.
    count = left.count + right.count
    delta = right.mean - left.mean
    mean = left.mean + delta * (right.count / count)
    m2 = left.m2 + right.m2 + delta**2 * (left.count * right.count / count)
    return _Moments(count, mean, m2)


_MOMENTS_SCHEMA = "count long, mean array<double>, m2 array<double>"
_MOMENTS_ARROW_SCHEMA = pa.schema(
    [
        ("count", pa.int64()),
        ("mean", pa.list_(pa.float64())),
        ("m2", pa.list_(pa.float64())),
    ]
)


def _feature_array(batch: pa.RecordBatch, columns: list[str]) -> np.ndarray:
    """The ``columns`` of an Arrow batch as one (n_rows, n_columns) float64 array.

    The Python passes take Arrow batches (``mapInArrow``) rather than pandas
    frames: Spark's conversions to and from pandas cost about as much as the
    rest of the Python side's handling of a batch. Nulls become NaN, as in
    pandas.
    """
    arrays = [batch.column(name).to_numpy(zero_copy_only=False) for name in columns]
    return np.column_stack(arrays).astype("float64", copy=False)


def _moments(
    features: SparkDataFrame, before: dict[str, Any] | None, args: dict[str, Any]
) -> _Moments | None:
    """Count, mean and M2 of the step's input, from one pass on the executors."""
    if not (args["with_mean"] or args["with_std"]):
        return None
    prefix, factors = _split_final_expansion(before)

    def _partition_moments(
        batches: Iterator[pa.RecordBatch],
    ) -> Iterator[pa.RecordBatch]:
        _limit_threads_to_task()
        transform = _transform_with(prefix)
        total = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            values = transform(_feature_array(batch, batch.schema.names))
            first, second = factors or sklearn_engine.identity_factors(values.shape[1])
            part = _batch_moments(values, first, second)
            total = part if total is None else _merge_moments(total, part)
        if total is not None:
            yield pa.RecordBatch.from_pydict(
                {
                    "count": [total.count],
                    "mean": [total.mean.tolist()],
                    "m2": [total.m2.tolist()],
                },
                schema=_MOMENTS_ARROW_SCHEMA,
            )

    partials = features.mapInArrow(_partition_moments, _MOMENTS_SCHEMA).collect()
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


#: For each output column of a degree-2 expansion, the two input columns it
#: multiplies; -1 stands for "no factor" (the bias is (-1, -1), x_i is (i, -1)).
_Factors = tuple[np.ndarray, np.ndarray]


def _split_final_expansion(
    chain_data: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, _Factors | None]:
    """Splits a final ``PolynomialFeatures`` of degree 2 or less off a chain.

    The scaler's moments are then summed from the expansion's input (10 columns
    for the challenge's chain rather than 66), as the sklearn engine sums them.

    Returns:
        The chain without that step (None when nothing is left) and the
        step's factors; the chain unchanged and None when it ends otherwise.
    """
    if chain_data is None:
        return None, None
    chain = FittedChain.from_dict(chain_data)
    last = chain.steps[-1]
    if last.transformer != "PolynomialFeatures":
        return chain_data, None
    powers = (
        PolynomialFeatures(**last.args).fit(np.zeros((1, last.n_features_in))).powers_
    )
    if powers.sum(axis=1).max(initial=0) > 2:
        return chain_data, None

    prefix = chain.steps[:-1]
    prefix_data = (
        FittedChain(
            chain.feature_columns, prefix, chain.n_rows_fitted, ENGINE_NAME
        ).to_dict()
        if prefix
        else None
    )
    return prefix_data, sklearn_engine.polynomial_factors(powers)


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


class _ModelInputSource(NamedTuple):
    """The readings and the chain a model input table was computed from."""

    readings: SparkDataFrame
    chain: FittedChain


#: The model input tables ``transform_readings`` returned in this process, each
#: with what it was computed from, so that ``score_features`` can score from the
#: readings directly. Weak keys: an entry goes when its table does.
_MODEL_INPUT_SOURCES: weakref.WeakKeyDictionary[SparkDataFrame, _ModelInputSource] = (
    weakref.WeakKeyDictionary()
)


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
        _limit_threads_to_task()
        transform = _transform_with(chain_data)
        for batch in batches:
            if batch.empty:
                continue
            transformed = transform(batch[inputs].to_numpy(dtype="float64"))
            features = pd.DataFrame(transformed, columns=names)
            yield pd.concat([batch.reset_index(drop=True), features], axis=1)

    model_input_table = readings.mapInPandas(_transform_partition, schema)
    _MODEL_INPUT_SOURCES[model_input_table] = _ModelInputSource(readings, chain)
    return model_input_table


def score_features(
    model_input_table: SparkDataFrame, model: Any, n_features: int
) -> SparkDataFrame:
    """Scores every row with the anomaly model, on the executors.

    The model is broadcast once to every executor and applied to one Arrow
    batch at a time.

    When ``model_input_table`` is a table ``transform_readings`` returned, the
    chain and the model run in one pass over its readings: Spark cannot merge
    two Python steps, and between them every row's model input
    features would go from Python to the JVM and back, which takes several
    times as long as computing them. The result is the same.

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
    source = _MODEL_INPUT_SOURCES.get(model_input_table)
    if source is not None and source.chain.n_features_out == n_features:
        table, inputs = source.readings, list(source.chain.feature_columns)
        chain_data = source.chain.to_dict()
    else:
        table, inputs, chain_data = model_input_table, names, None

    kept = [field for field in table.schema.fields if field.name not in names]
    kept_names = [field.name for field in kept]
    schema = T.StructType(
        [
            *kept,
            T.StructField("prediction", T.LongType(), True),
            T.StructField("anomaly_score", T.DoubleType(), True),
        ]
    )
    shared_model = table.sparkSession.sparkContext.broadcast(model)

    def _score_partition(
        batches: Iterator[pa.RecordBatch],
    ) -> Iterator[pa.RecordBatch]:
        _limit_threads_to_task()
        # No chain: the table holds the model input already, scored as it is.
        steps = [] if chain_data is None else FittedChain.from_dict(chain_data).steps
        scores_of = sklearn_engine.chain_scores(steps, shared_model.value)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            scores = scores_of(_feature_array(batch, inputs))
            # The reading columns go back as Spark sent them, without a copy.
            yield pa.RecordBatch.from_arrays(
                [
                    *batch.select(kept_names).columns,
                    pa.array(sklearn_engine.predicted_classes(scores)),
                    pa.array(scores.astype("float64", copy=False)),
                ],
                names=[*kept_names, "prediction", "anomaly_score"],
            )

    return table.mapInArrow(_score_partition, schema)


def count_predictions(predictions: SparkDataFrame) -> PredictionCounts:
    """Counts scored rows and rows per class, in one aggregation."""
    counts = predictions.agg(
        F.count(F.lit(1)).alias("rows"),
        _count_if(F.col("prediction") == -1).alias("anomalies"),
    ).first()
    rows, anomalies = int(counts["rows"]), int(counts["anomalies"])
    return PredictionCounts(rows=rows, anomalies=anomalies, inliers=rows - anomalies)


#: Bits of ``monotonically_increasing_id`` that count rows within a partition;
#: the bits above them hold the partition's index.
_ROW_IN_PARTITION_BITS = 33


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
    input table. Ranks are computed in the JVM; only the anomalies and one row
    per partition reach the driver, through Arrow.

    Each partition is sorted by time, and a row's index within its partition
    comes from ``monotonically_increasing_id``; its position is that index
    plus the number of rows in the partitions before it. Which partitions come
    before is known when the partitions hold separate time ranges:

    - usually they already do: the part files of the predictions each hold
      the rows of one slice of a time-ordered input. One aggregation gives
      each partition's time range and row count; the partitions are sorted
      where they are, with no shuffle.
    - otherwise the table is first sorted by time across partitions (range
      partitioning: each partition gets one time range). Each partition's
      offset is then the count of rows earlier than its first row, from one
      more aggregation.

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
    table = predictions.select(*[_column(name) for name in [*columns, "prediction"]])

    ranges = _partition_ranges(table, time_column)
    if _are_separate(ranges):
        kept = _anomalies_and_first_rows(
            table.sortWithinPartitions(_column(time_column)), columns
        )
        offsets = _offsets_of_ranges(ranges, kept)
        if offsets is not None:
            logger.debug(
                "Ranked rows in place, in %d separate time ranges", len(ranges)
            )
            return _numbered_anomalies(kept, offsets, columns, first_row)

    logger.debug("Ranking rows after a sort by time across partitions")
    kept = _anomalies_and_first_rows(table.orderBy(_column(time_column)), columns)
    offsets = _rows_before(table, time_column, kept)
    return _numbered_anomalies(kept, offsets, columns, first_row)


def _partition_ranges(table: SparkDataFrame, time_column: str) -> pd.DataFrame:
    """First and last time and row count of each non-empty partition, in time
    order."""
    time = _column(time_column)
    ranges = table.groupBy(F.spark_partition_id().alias("partition")).agg(
        F.min(time).alias("first"),
        F.max(time).alias("last"),
        F.count(F.lit(1)).alias("rows"),
        _count_if(time.isNull()).alias("null_times"),
    )
    return ranges.toPandas().sort_values("first", ignore_index=True)


def _are_separate(ranges: pd.DataFrame) -> bool:
    """Whether no two partitions' time ranges overlap (and no time is null)."""
    first = ranges["first"].to_numpy(dtype="float64")
    last = ranges["last"].to_numpy(dtype="float64")
    return bool(
        (ranges["null_times"] == 0).all()
        and np.isfinite(first).all()
        and np.isfinite(last).all()
        and (last[:-1] < first[1:]).all()
    )


def _anomalies_and_first_rows(
    sorted_table: SparkDataFrame, columns: list[str]
) -> pd.DataFrame:
    """Every anomaly and the first row of every partition of a table sorted
    within its partitions, with each row's partition and index within it."""
    row_id = F.monotonically_increasing_id()
    in_partition = row_id.bitwiseAND((1 << _ROW_IN_PARTITION_BITS) - 1)
    ranked = sorted_table.select(
        *[_column(name).alias(f"_{index}") for index, name in enumerate(columns)],
        F.col("prediction").alias("_prediction"),
        F.shiftright(row_id, _ROW_IN_PARTITION_BITS).alias("_partition"),
        in_partition.alias("_in_partition"),
    )
    return ranked.filter(
        (F.col("_prediction") == -1) | (F.col("_in_partition") == 0)
    ).toPandas()


def _offsets_of_ranges(
    ranges: pd.DataFrame, kept: pd.DataFrame
) -> dict[int, int] | None:
    """Rows before each partition, from ``_partition_ranges`` in time order.

    Both jobs read the same files, which Spark splits the same way each time,
    so a partition index names the same rows in both; this is checked on each
    partition's first time, and None is returned if any differs.
    """
    firsts = kept[kept["_in_partition"] == 0]
    found = _first_times(firsts["_partition"], firsts["_0"])
    if found != _first_times(ranges["partition"], ranges["first"]):
        return None
    rows = ranges["rows"].to_numpy(dtype="int64")
    before = np.cumsum(rows) - rows
    return {
        int(partition): int(rows)
        for partition, rows in zip(ranges["partition"], before, strict=True)
    }


def _first_times(partitions: pd.Series, times: pd.Series) -> dict[int, float]:
    return dict(
        zip(partitions.astype(int), times.to_numpy(dtype="float64"), strict=True)
    )


def _numbered_anomalies(
    kept: pd.DataFrame, offsets: dict[int, int], columns: list[str], first_row: int
) -> pd.DataFrame:
    """The anomalies of ``kept`` with their row numbers, in row order."""
    is_anomaly = kept["_prediction"].to_numpy() == -1
    row_numbers = (
        kept["_partition"].map(offsets).to_numpy(dtype="int64")
        + kept["_in_partition"].to_numpy(dtype="int64")
        + first_row
    )[is_anomaly]
    order = np.argsort(row_numbers, kind="stable")

    anomalies = pd.DataFrame({"row_number": row_numbers[order]})
    for index, name in enumerate(["time", *columns[1:]]):
        anomalies[name] = kept[f"_{index}"].to_numpy(dtype="float64")[is_anomaly][order]
    return anomalies


def _rows_before(
    table: SparkDataFrame, time_column: str, kept: pd.DataFrame
) -> dict[int, int]:
    """For each partition of a table sorted by time, the rows that sort before it.

    The first partition starts the table. Every other one starts at a time
    that is not null (nulls sort first, and equal keys share a partition), so
    the rows before it are those with a smaller time or a null one. Adaptive
    query execution may have merged partitions of the sort: each partition
    still holds one time range, and these counts do not depend on how the
    table was split.
    """
    firsts = kept[kept["_in_partition"] == 0].sort_values("_partition")
    if firsts.empty:
        return {}
    time = _column(time_column)
    later = firsts["_0"].tolist()[1:]
    counts = [0]
    if later:
        earlier = [F.coalesce(time < F.lit(first), F.lit(True)) for first in later]
        counts += list(table.agg(*[_count_if(rows) for rows in earlier]).first())
    return {
        int(partition): int(count)
        for partition, count in zip(firsts["_partition"], counts, strict=True)
    }
