"""The scikit-learn engine: pandas batches, scikit-learn semantics.

Every function takes a pandas frame or a ``ReadingBatches`` stream (see
``shape.engines.batches``). Per-row work (``select_readings``,
``transform_readings``, ``score_features``) is added to a stream as a per-batch
function and runs when the stream is iterated, typically while the predictions
are written; aggregates (``check_readings``, ``fit_chain``,
``count_predictions``) iterate the stream. Memory is bounded by the batch size.

Fitting gives scikit-learn's result at any size: ``QuantileTransformer`` is
fitted, by scikit-learn, on the rows it would use itself (all rows up to
``subsample``, else a uniform sample of that size drawn over the batches, seeded
by the step's ``random_state``); ``StandardScaler`` gets scikit-learn's
incremental mean and variance, one batch at a time, with the arithmetic of
``partial_fit``. On a table of one batch and at most ``subsample`` rows the
fitted state is identical to fitting the in-memory pipeline. The fitted chain is
kept as a ``FittedChain`` of plain numbers; applying it runs the compiled loops
of ``shape.engines.kernels``, which do the arithmetic of scikit-learn's
``transform`` (checked to be bit-identical in the tests) on every core, without
its per-call checks and copies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)
from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature
from sklearn.svm import OneClassSVM

from shape.chain import ChainStep, FittedChain, FittedStep
from shape.engines import (
    REJECTED_REASON_COLUMN,
    PredictionCounts,
    ReadingsCheck,
    SplitReadings,
    feature_names,
    kernels,
)
from shape.engines.batches import (
    ReadingBatches,
    as_batches,
    one_blas_thread,
    with_progress,
)

logger = logging.getLogger(__name__)

_ESTIMATORS = {
    "PolynomialFeatures": PolynomialFeatures,
    "QuantileTransformer": QuantileTransformer,
    "StandardScaler": StandardScaler,
}

#: Rows taken through all the chain's steps at a time by ``array_pipeline``: at
#: the chain's widest (66 columns) one step's output is about 8 MB.
_PIPELINE_CHUNK_ROWS = 16_384

#: Rows of model input scored at a time by the vectorised decision function;
#: bounds the (rows x support vectors) kernel matrix.
_SCORE_CHUNK_ROWS = 65_536

#: Applies fitted steps to a float64 array of shape (n_rows, n_features).
ArrayFunction = Callable[[np.ndarray], np.ndarray]


def select_readings(readings: Any, time_column: str, feature_columns: list[str]) -> Any:
    """Keeps the time and feature columns, with the features cast to float64.

    Args:
        readings: Raw table, one row per sensor reading: a pandas frame, or a
            ``ReadingBatches`` stream (only these columns are then read).
        time_column: Name of the time column, carried through unchanged.
        feature_columns: Names of the numeric vibration columns.

    Returns:
        Of the same kind as ``readings``: ``time_column`` then
        ``feature_columns``, the features as float64; missing values of
        nullable dtypes (``Int64``) become NaN.

    Raises:
        TypeError: When a feature column is neither float nor integer (text,
            booleans, dates, complex numbers), or the time column is neither
            numeric nor a timestamp; names the column and its dtype. For a
            stream, raised when the batches are iterated.
    """
    columns = [time_column, *feature_columns]
    if isinstance(readings, ReadingBatches):
        return readings.select(columns).map(
            lambda frame: _select_frame(frame, time_column, feature_columns), columns
        )
    return _select_frame(readings, time_column, feature_columns)


def _select_frame(
    readings: pd.DataFrame, time_column: str, feature_columns: list[str]
) -> pd.DataFrame:
    time_dtype = readings[time_column].dtype
    if not (
        pd.api.types.is_datetime64_any_dtype(time_dtype)
        or (
            pd.api.types.is_numeric_dtype(time_dtype)
            and not pd.api.types.is_bool_dtype(time_dtype)
        )
    ):
        # Text or mixed times would be carried through scoring and fail only
        # when the anomalies are written to the database.
        raise TypeError(
            f"Time column '{time_column}' must hold numbers or timestamps; "
            f"found dtype {time_dtype}."
        )
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


def check_readings(readings: Any, feature_columns: list[str]) -> ReadingsCheck:
    """Counts rows, and rows and values that are missing or not finite.

    Args:
        readings: Output of ``select_readings``; a stream is read once.
        feature_columns: Columns that must hold finite numbers.

    Returns:
        The counts; ``invalid_by_column`` lists only columns with invalid values.
    """

    def batch_counts(frame: pd.DataFrame) -> tuple[int, int, np.ndarray]:
        invalid = ~np.isfinite(frame[feature_columns].to_numpy(dtype="float64"))
        return len(frame), int(invalid.any(axis=1).sum()), invalid.sum(axis=0)

    rows = invalid_rows = 0
    per_column = np.zeros(len(feature_columns), dtype="int64")
    batches = as_batches(readings).imap(batch_counts)
    for n_rows, n_invalid, by_column in with_progress(
        batches, "check_readings", rows_in=lambda counts: counts[0]
    ):
        rows += n_rows
        invalid_rows += n_invalid
        per_column += by_column

    return ReadingsCheck(
        rows=rows,
        invalid_rows=invalid_rows,
        invalid_by_column={
            column: int(count)
            for column, count in zip(feature_columns, per_column, strict=True)
            if count
        },
    )


def split_invalid_rows(
    readings: Any, feature_columns: list[str], any_invalid: bool = True
) -> SplitReadings:
    """Separates rows with a missing or non-finite feature value from the rest.

    Args:
        readings: Output of ``select_readings``, a pandas frame or a stream.
        feature_columns: Columns that must hold finite numbers.
        any_invalid: False when ``check_readings`` found no invalid row: a
            stream is then passed on as it is, and its ``rejected`` part is
            made from its first batch alone, so neither part reads the table
            again to look for rows that are not there.

    Returns:
        Of the same kind as ``readings``: ``valid``, the rows with only finite
        values (index reset), and ``rejected``, the other rows with
        ``rejected_reason`` naming their invalid columns. A stream is split
        batch by batch as it is read.
    """
    if isinstance(readings, ReadingBatches):
        columns = list(readings.columns)
        scanned = readings if any_invalid else readings.empty()
        return SplitReadings(
            valid=readings.map(
                lambda frame: _split_frame(frame, feature_columns)["valid"], columns
            )
            if any_invalid
            else readings,
            rejected=scanned.map(
                lambda frame: _split_frame(frame, feature_columns)["rejected"],
                [*columns, REJECTED_REASON_COLUMN],
            ),
        )
    return _split_frame(readings, feature_columns)


def _split_frame(readings: pd.DataFrame, feature_columns: list[str]) -> SplitReadings:
    invalid = ~np.isfinite(readings[feature_columns].to_numpy(dtype="float64"))
    invalid_rows = invalid.any(axis=1)

    rejected = readings[invalid_rows].reset_index(drop=True)
    names = np.array(feature_columns, dtype=object)
    # A string dtype, not object: Parquet then stores a string column even for
    # a batch with no rejected row, so every batch of a stream has one schema.
    rejected[REJECTED_REASON_COLUMN] = pd.Series(
        [
            "missing or non-finite: " + ", ".join(names[row])
            for row in invalid[invalid_rows]
        ],
        dtype="string",
    )
    return SplitReadings(
        valid=readings[~invalid_rows].reset_index(drop=True), rejected=rejected
    )


def fit_chain(
    readings: Any, steps: list[ChainStep], feature_columns: list[str]
) -> FittedChain:
    """Fits the chain on the feature columns of ``readings``, batch by batch.

    Stateless steps (``PolynomialFeatures``) are fitted from their input width.
    Each ``QuantileTransformer`` or ``StandardScaler`` takes one pass over the
    batches, through the steps fitted before it:

    - ``QuantileTransformer`` is fitted by scikit-learn on every row when the
      table has at most ``subsample`` rows, else on a uniform sample of
      ``subsample`` rows without replacement (see ``RowSample``), seeded by the
      step's ``random_state`` (0 when null). ``n_quantiles`` becomes
      ``min(n_quantiles, n_rows)``, which scikit-learn falls back to itself but
      with a warning.
    - ``StandardScaler`` is fitted with ``partial_fit`` on every batch: mean and
      population variance over all rows, merged batch by batch the way
      scikit-learn merges them.

    Args:
        readings: Validated readings, one row per reading: a pandas frame or a
            ``ReadingBatches`` stream.
        steps: The parsed chain spec.
        feature_columns: Columns the first step reads, in order.

    Returns:
        The fitted chain.

    Raises:
        ValueError: When the table has no rows.
    """
    stream = as_batches(readings).select(list(feature_columns))
    fitted_steps: list[FittedStep] = []
    n_features = len(feature_columns)
    n_rows: int | None = None

    for position, step in enumerate(steps):
        label = f"fit_chain step {position + 1}/{len(steps)} '{step.name}'"
        prefix = array_pipeline(fitted_steps)
        if step.transformer == "PolynomialFeatures":
            estimator = PolynomialFeatures(**step.args).fit(np.zeros((1, n_features)))
        elif step.transformer == "QuantileTransformer":
            estimator, n_rows = _fit_quantiles(stream, prefix, step, label)
        else:
            estimator, n_rows = _fit_scaler(stream, fitted_steps, step, label)
        n_out = _n_features_out(estimator, n_features)
        fitted_steps.append(
            FittedStep(
                name=step.name,
                transformer=step.transformer,
                args=dict(step.args),
                n_features_in=n_features,
                n_features_out=n_out,
                state=_fitted_state(estimator),
            )
        )
        logger.debug(
            "Fitted step '%s': %d -> %d features", step.name, n_features, n_out
        )
        n_features = n_out

    if n_rows is None:
        n_rows = sum(len(frame) for frame in stream.select(feature_columns[:1]))
    return FittedChain(
        feature_columns=list(feature_columns),
        steps=fitted_steps,
        n_rows_fitted=n_rows,
        fitted_by="sklearn",
    )


def _feature_arrays(
    stream: ReadingBatches, prefix: ArrayFunction, label: str
) -> Iterator[np.ndarray]:
    arrays = stream.imap(lambda frame: prefix(frame.to_numpy(dtype="float64")))
    return with_progress(arrays, label)


class RowSample:
    """A uniform sample of ``size`` rows without replacement, fed batch by batch.

    Every row gets a random key from one generator seeded with ``seed``; the
    sample is the ``size`` rows with the smallest keys. The keys are drawn in
    row order from one stream of numbers, so the sample depends on the seed and
    the rows, not on how the rows are cut into batches. While at most ``size``
    rows have been seen, the sample is every row, in order.

    Args:
        size: Rows to keep.
        seed: Seed of ``numpy.random.default_rng``.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.n_seen = 0
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self._rows: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        """Offers a batch of rows (n_rows x n_features) to the sample."""
        keys = self._rng.random(len(rows))
        self.n_seen += len(rows)
        if self._rows is None:
            self._rows = np.empty((0, rows.shape[1]))
        if len(self._keys) == self.size:
            # Only rows whose key beats the largest kept key can enter.
            entering = keys < self._keys.max()
            keys, rows = keys[entering], rows[entering]
        self._keys = np.concatenate([self._keys, keys])
        self._rows = np.concatenate([self._rows, rows])
        if len(self._keys) > self.size:
            kept = np.argpartition(self._keys, self.size - 1)[: self.size]
            kept.sort()
            self._keys, self._rows = self._keys[kept], self._rows[kept]

    @property
    def rows(self) -> np.ndarray:
        """The sampled rows (at most ``size``, n_features wide)."""
        return np.empty((0, 0)) if self._rows is None else self._rows


def _fit_quantiles(
    stream: ReadingBatches, prefix: ArrayFunction, step: ChainStep, label: str
) -> tuple[QuantileTransformer, int]:
    seed = step.args["random_state"]
    sample = RowSample(step.args["subsample"], 0 if seed is None else seed)
    for features in _feature_arrays(stream, prefix, f"{label}: quantile sample"):
        sample.add(features)
    _check_not_empty(sample.n_seen, step)

    args = dict(step.args, n_quantiles=min(step.args["n_quantiles"], sample.n_seen))
    return QuantileTransformer(**args).fit(sample.rows), sample.n_seen


def _fit_scaler(
    stream: ReadingBatches,
    fitted_steps: list[FittedStep],
    step: ChainStep,
    label: str,
) -> tuple[StandardScaler, int]:
    """Fits a ``StandardScaler`` on every row, as ``partial_fit`` batch by batch.

    When the step before the scaler is a degree-2 ``PolynomialFeatures`` (as in
    the challenge's chain), its output is not built: the kernels compute each
    expanded column as they add it up.
    """
    steps = list(fitted_steps)
    last = _restore_estimator(steps[-1]) if steps else None
    if isinstance(last, PolynomialFeatures) and last.degree <= 2:
        first, second = polynomial_factors(last.powers_)
        steps.pop()
    else:
        # No expansion to fuse: the scaler's input is summed as it is.
        n_columns = steps[-1].n_features_out if steps else len(stream.columns)
        first, second = identity_factors(n_columns)
    prefix = array_pipeline(steps)
    with_variance = step.args["with_std"]

    def batch_sums(frame: pd.DataFrame) -> BatchSums:
        features = prefix(frame.to_numpy(dtype="float64"))
        return BatchSums.of(features, first, second, with_variance)

    moments = _ScalerMoments(len(first), with_variance)
    batches = stream.imap(batch_sums)
    for sums in with_progress(
        batches, f"{label}: mean and variance", rows_in=lambda sums: sums.n_rows
    ):
        moments.add(sums)
    _check_not_empty(moments.count, step)
    return moments.to_scaler(step), moments.count


class BatchSums(NamedTuple):
    """One batch's share of a scaler's fit: its row count and column sums.

    Both engines compute these per batch (the sklearn engine on the stream's
    worker threads, the Spark engine in its tasks) and merge them in order.
    """

    n_rows: int
    sums: np.ndarray
    deviations: np.ndarray | None
    squares: np.ndarray | None

    @classmethod
    def of(
        cls,
        features: np.ndarray,
        first: np.ndarray,
        second: np.ndarray,
        with_variance: bool,
    ) -> BatchSums:
        """The sums of the columns of ``polynomial_degree2(features, first,
        second)``; with the variance, also those of their deviations from the
        batch mean and of the deviations' squares."""
        n_rows = len(features)
        if n_rows == 0:
            return cls(0, np.zeros(len(first)), None, None)
        features = np.ascontiguousarray(features, dtype="float64")
        sums = kernels.polynomial_column_sums(features, first, second)
        if not with_variance:
            return cls(n_rows, sums, None, None)
        deviations, squares = kernels.polynomial_centred_sums(
            features, first, second, sums / n_rows
        )
        return cls(n_rows, sums, deviations, squares)

    @property
    def m2(self) -> np.ndarray:
        """The batch's sum of squared deviations from its mean, corrected.

        ``squares - deviations**2 / n_rows``: scikit-learn's corrected two-pass
        form, whose second term removes the rounding error left in the batch
        mean. Only with the variance.
        """
        return self.squares - self.deviations**2 / self.n_rows


class _ScalerMoments:
    """Column means and variances merged batch by batch, as scikit-learn does.

    The arithmetic is that of ``StandardScaler.partial_fit`` (its
    ``_incremental_mean_and_var``): per batch the sum, then the sums of the
    deviations from the batch mean and of their squares (the corrected
    two-pass variance), then Chan, Golub and LeVeque's merge with the running
    figures. The columns are those of ``polynomial_degree2(features, first,
    second)``; the sums come from ``shape.engines.kernels`` in numpy's order, so
    the result is bit-identical to calling ``partial_fit`` on the same batches.

    Args:
        n_columns: Number of columns fitted.
        with_variance: Whether to keep the variance (``with_std``).
    """

    def __init__(self, n_columns: int, with_variance: bool) -> None:
        self.count = 0
        self.mean = np.zeros(n_columns)
        self.var: np.ndarray | None = np.zeros(n_columns) if with_variance else None

    def add(self, batch: BatchSums) -> None:
        """Merges the next batch's sums."""
        n_rows, sums = batch.n_rows, batch.sums
        if n_rows == 0:
            return
        previous_count = self.count
        previous_sum = self.mean * previous_count
        count = previous_count + n_rows
        self.mean = (previous_sum + sums) / count
        if self.var is not None:
            batch_unnormalised = batch.m2
            if previous_count == 0:
                merged = batch_unnormalised
            else:
                ratio = previous_count / n_rows
                merged = (
                    self.var * previous_count
                    + batch_unnormalised
                    + ratio / count * (previous_sum / ratio - sums) ** 2
                )
            self.var = merged / count
        self.count = count

    def to_scaler(self, step: ChainStep) -> StandardScaler:
        """A fitted ``StandardScaler`` holding these figures, as ``partial_fit``
        leaves it."""
        estimator = StandardScaler(**step.args)
        estimator.n_features_in_ = len(self.mean)
        estimator.n_samples_seen_ = self.count
        fitted = step.args["with_mean"] or step.args["with_std"]
        estimator.mean_ = self.mean if fitted else None
        estimator.var_ = self.var
        if self.var is None:
            estimator.scale_ = None
        else:
            # A constant column (the bias term of PolynomialFeatures) can get a
            # variance that rounds to a tiny negative number; scikit-learn then
            # takes a square root of it, warns, and replaces the scale by 1 as
            # for any constant column. The result is right, so the warning is
            # muted. The two helpers are scikit-learn's own, so constant columns
            # are detected exactly as in ``partial_fit``.
            constant = _is_constant_feature(self.var, self.mean, self.count)
            with np.errstate(invalid="ignore"):
                estimator.scale_ = _handle_zeros_in_scale(
                    np.sqrt(self.var), copy=False, constant_mask=constant
                )
        return estimator


def _check_not_empty(n_rows: int, step: ChainStep) -> None:
    if n_rows == 0:
        raise ValueError(
            f"Cannot fit step '{step.name}' ({step.transformer}): the readings "
            "have no rows."
        )


def _n_features_out(estimator: Any, n_features_in: int) -> int:
    if isinstance(estimator, PolynomialFeatures):
        return int(estimator.n_output_features_)
    return n_features_in


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


def array_pipeline(steps: list[FittedStep]) -> ArrayFunction:
    """Returns a function applying ``steps`` to a float64 array.

    Each step runs as a compiled loop of ``shape.engines.kernels`` that does the
    arithmetic of the scikit-learn ``transform`` it stands for, operation for
    operation, so the result is bit-identical
    (tests/engines/test_sklearn_engine_streaming.py compares them), without
    scikit-learn's input checks and copies on every call. The rows go through
    the steps ``_PIPELINE_CHUNK_ROWS`` at a time, so the intermediate arrays
    stay in the processor's cache. A ``PolynomialFeatures`` of degree above 2
    is left to scikit-learn, whose order of multiplication for three or more
    factors is its own.

    The returned function takes (n_rows, n_features_in) and returns a new
    row-major (n_rows, n_features_out) array.
    """
    functions = [_step_function(step) for step in steps]
    n_out = steps[-1].n_features_out if steps else None

    def apply(features: np.ndarray) -> np.ndarray:
        features = np.ascontiguousarray(features, dtype="float64")
        if not functions:
            return features.copy()
        if len(features) <= _PIPELINE_CHUNK_ROWS:
            return _apply_all(functions, features)
        result = np.empty((len(features), n_out))
        for start in range(0, len(features), _PIPELINE_CHUNK_ROWS):
            stop = start + _PIPELINE_CHUNK_ROWS
            result[start:stop] = _apply_all(functions, features[start:stop])
        return result

    return apply


def _apply_all(functions: list[ArrayFunction], features: np.ndarray) -> np.ndarray:
    for function in functions:
        features = function(features)
    return features


def _step_function(step: FittedStep) -> ArrayFunction:
    estimator = _restore_estimator(step)
    if step.transformer == "PolynomialFeatures":
        if estimator.degree > 2:
            return lambda features: np.ascontiguousarray(estimator.transform(features))
        return _polynomial_function(*polynomial_factors(estimator.powers_))
    if step.transformer == "QuantileTransformer":
        return _quantile_function(estimator)
    return _scaler_function(estimator)


def polynomial_factors(powers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (first, second) input column of each output column of a degree-2 step.

    ``powers`` is a fitted ``PolynomialFeatures``'s ``powers_``. -1 marks "no
    factor": the bias is (-1, -1) and ``x_i`` is (i, -1). These are the factors
    the kernels (``polynomial_degree2`` and the scaler's sums) take.
    """
    pairs = []
    for row in powers:
        columns = [index for index, power in enumerate(row) for _ in range(power)]
        pairs.append([*columns, -1, -1][:2])
    factors = np.array(pairs, dtype="int64").reshape(-1, 2)
    return np.ascontiguousarray(factors[:, 0]), np.ascontiguousarray(factors[:, 1])


def identity_factors(n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors under which the kernels take their input columns as they are."""
    return np.arange(n_columns, dtype="int64"), np.full(n_columns, -1, dtype="int64")


def _polynomial_function(first: np.ndarray, second: np.ndarray) -> ArrayFunction:
    def expand(features: np.ndarray) -> np.ndarray:
        expanded = np.empty((len(features), len(first)))
        return kernels.polynomial_degree2(features, first, second, expanded)

    return expand


def _quantile_function(estimator: QuantileTransformer) -> ArrayFunction:
    tables = kernels.quantile_tables(
        estimator.quantiles_, estimator.references_, estimator.output_distribution
    )

    def transform(features: np.ndarray) -> np.ndarray:
        result = np.empty(features.shape)
        return kernels.quantile_transform(features, *tables, result)

    return transform


def _scaler_function(estimator: StandardScaler) -> ArrayFunction:
    n_features = estimator.n_features_in_
    mean = (
        np.ascontiguousarray(estimator.mean_, dtype="float64")
        if estimator.with_mean
        else np.zeros(n_features)
    )
    scale = (
        np.ascontiguousarray(estimator.scale_, dtype="float64")
        if estimator.with_std
        else np.ones(n_features)
    )

    def scale_features(features: np.ndarray) -> np.ndarray:
        scaled = np.empty(features.shape)
        return kernels.standard_scale(features, mean, scale, scaled)

    return scale_features


def transform_readings(readings: Any, chain: FittedChain) -> Any:
    """Applies a fitted chain to validated readings.

    Args:
        readings: Validated readings with the chain's feature columns: a pandas
            frame, or a ``ReadingBatches`` stream (the chain is then applied
            batch by batch when the stream is iterated).
        chain: The fitted chain.

    Returns:
        Of the same kind as ``readings``: its columns followed by the model
        input features ``feature_00`` … (float64), one row per reading.
    """
    transform = _ChainTransform(chain)
    if isinstance(readings, ReadingBatches):
        return readings.map(transform, [*readings.columns, *transform.names])
    return transform(readings)


class _ChainTransform:
    """The per-batch function of ``transform_readings``: adds the model input.

    A class rather than a closure so that ``score_features`` can recognise it at
    the end of a stream and score the readings without building the model
    input table (see ``score_features``).
    """

    def __init__(self, chain: FittedChain) -> None:
        self.chain = chain
        self.apply = array_pipeline(chain.steps)
        self.names = feature_names(chain.n_features_out)

    def readings_array(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.chain.feature_columns].to_numpy(dtype="float64")

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = self.apply(self.readings_array(frame))
        feature_frame = pd.DataFrame(features, columns=self.names, index=frame.index)
        return pd.concat([frame, feature_frame], axis=1)


def score_features(model_input_table: Any, model: Any, n_features: int) -> Any:
    """Scores every row with the anomaly model.

    A fitted ``OneClassSVM`` with the RBF kernel is evaluated with matrix
    products over its support vectors (``decision_scores``), which equals
    libsvm's ``decision_function`` to about 1e-14; any other model is asked for
    its own ``decision_function``.

    When ``model_input_table`` is the stream ``transform_readings`` returned,
    the model input of a batch is never built as a table: each batch's readings
    go through the chain and the model ``_PIPELINE_CHUNK_ROWS`` rows at a time,
    which gives the same scores with a fraction of the memory and copying.

    Args:
        model_input_table: Output of ``transform_readings``: a pandas frame or
            a ``ReadingBatches`` stream (then scored batch by batch when the
            stream is iterated).
        model: A fitted estimator with ``decision_function``, such as
            ``OneClassSVM``; a row is an anomaly when its score is not above 0.
        n_features: Number of model input features in the table.

    Returns:
        Of the same kind as ``model_input_table``: the reading columns (every
        column that is not a model input feature), ``prediction`` (int64: 1
        inlier, -1 anomaly) and ``anomaly_score`` (float64, the decision
        function).
    """
    names = feature_names(n_features)
    scorer = _decision_function(model)

    def score_frame(frame: pd.DataFrame) -> pd.DataFrame:
        scores = scorer(frame[names].to_numpy(dtype="float64"))
        return _with_predictions(frame.drop(columns=names), scores)

    if not isinstance(model_input_table, ReadingBatches):
        return score_frame(model_input_table)

    kept = [c for c in model_input_table.columns if c not in set(names)]
    columns = [*kept, "prediction", "anomaly_score"]
    last = model_input_table.last_function
    if isinstance(last, _ChainTransform) and last.names == names:
        readings = model_input_table.without_last_function()
        scores_of = _chunked(last.apply, scorer)

        def score_readings(frame: pd.DataFrame) -> pd.DataFrame:
            scores = scores_of(last.readings_array(frame))
            return _with_predictions(frame.copy(deep=False), scores)

        return readings.map(score_readings, columns)
    return model_input_table.map(score_frame, columns)


def chain_scores(steps: list[FittedStep], model: Any) -> ArrayFunction:
    """The model's scores of raw readings, through the fitted chain.

    Equal to ``decision_scores(model, array_pipeline(steps)(readings))`` to
    the bit, but the model input is never built for more than
    ``_PIPELINE_CHUNK_ROWS`` rows: each chunk goes through the chain and the
    model while it is in the processor's cache. The returned function takes
    (n_rows, n_features_in) and returns n_rows scores.
    """
    return _chunked(array_pipeline(steps), _decision_function(model))


def _chunked(apply: ArrayFunction, scorer: ArrayFunction) -> ArrayFunction:
    def scores_of(readings: np.ndarray) -> np.ndarray:
        scores = np.empty(len(readings))
        for start in range(0, len(readings), _PIPELINE_CHUNK_ROWS):
            stop = start + _PIPELINE_CHUNK_ROWS
            scores[start:stop] = scorer(apply(readings[start:stop]))
        return scores

    return scores_of


def _with_predictions(readings: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    readings["prediction"] = predicted_classes(scores)
    readings["anomaly_score"] = scores.astype("float64")
    return readings


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """The model's predictions (int64: 1 inlier, -1 anomaly) from its scores.

    libsvm's one-class predict is "inlier when the decision value is above 0";
    deriving it from the decision values already computed saves a second pass
    through the support vectors. Both engines label their rows with this.
    """
    return np.where(scores > 0, 1, -1).astype("int64")


def decision_scores(model: Any, features: np.ndarray) -> np.ndarray:
    """The model's decision function on ``features`` (n_rows x n_features).

    For a dense, fitted ``OneClassSVM`` with the RBF kernel this is
    ``dual_coef_ @ exp(-gamma * ||x - sv||^2) + intercept_`` over the support
    vectors ``sv``, computed ``_SCORE_CHUNK_ROWS`` rows at a time with the
    squared distance expanded as ``||x||^2 + ||sv||^2 - 2 x.sv`` so that it is
    one matrix product. libsvm sums the same terms one row and one support
    vector at a time; the two agree to rounding (about 1e-14 on the challenge
    data, checked to 1e-9 in the tests). Other models use their own
    ``decision_function``.
    """
    return _decision_function(model)(features)


def _decision_function(model: Any) -> ArrayFunction:
    """``decision_scores`` for ``model``, with its support vectors prepared once."""
    if not _is_dense_rbf_one_class_svm(model):
        return lambda features: np.asarray(
            model.decision_function(features), dtype="float64"
        )

    support = np.asarray(model.support_vectors_, dtype="float64")
    coefficients = np.asarray(model.dual_coef_, dtype="float64").ravel()
    # ``_gamma`` is the numeric gamma libsvm used, resolved from 'scale' or
    # 'auto' at fit time; scikit-learn keeps it only under this private name.
    gamma = float(model._gamma)
    support_norms = np.einsum("ij,ij->i", support, support)
    minus_twice_support = np.ascontiguousarray(-2.0 * support.T)
    intercept = float(model.intercept_[0])

    def scores_of(features: np.ndarray) -> np.ndarray:
        scores = np.empty(len(features))
        # One BLAS thread: the products are small (rows x 66 by 66 x 39), and
        # BLAS's own threads, which spin between calls, competed with the
        # compiled kernels' threads for the cores and made scoring slower.
        with one_blas_thread():
            _score_chunks(features, scores)
        return scores + intercept

    def _score_chunks(features: np.ndarray, scores: np.ndarray) -> None:
        for start in range(0, len(features), _SCORE_CHUNK_ROWS):
            # Row-major whatever the caller's layout: BLAS and einsum add in
            # an order that depends on it, and the scores of a frame and of a
            # stream of the same rows must agree to the last bit.
            chunk = np.ascontiguousarray(features[start : start + _SCORE_CHUNK_ROWS])
            distances = chunk @ minus_twice_support
            distances += np.einsum("ij,ij->i", chunk, chunk)[:, None]
            distances += support_norms
            np.maximum(distances, 0.0, out=distances)
            np.exp(distances * -gamma, out=distances)
            scores[start : start + len(chunk)] = distances @ coefficients

    return scores_of


def _is_dense_rbf_one_class_svm(model: Any) -> bool:
    return (
        isinstance(model, OneClassSVM)
        and model.kernel == "rbf"
        and hasattr(model, "support_vectors_")
        and not getattr(model, "_sparse", False)
    )


def select_anomalies(
    predictions: Any,
    time_column: str,
    feature_columns: list[str],
    first_row: int = 0,
) -> pd.DataFrame | ReadingBatches:
    """Keeps the anomalous rows of the predictions, for the database.

    Args:
        predictions: Output of ``score_features``, a pandas frame or a
            ``ReadingBatches`` stream: ``time_column``, ``feature_columns``,
            ``prediction`` and ``anomaly_score``, one row per reading, in table
            order.
        time_column: Name of the time column (``preprocessing.time_column``).
        feature_columns: Names of the input feature columns.
        first_row: Position of the first row in the whole table.

    Returns:
        Of the same kind as ``predictions``, one row per anomaly
        (``prediction == -1``), in row order: ``row_number`` (int64, position
        in the whole table), ``time``, ``feature_columns`` and
        ``anomaly_score``, all float64. For a stream, a new lazy stream with
        one frame (possibly empty) per batch of predictions: nothing is read
        until it is iterated, each iteration reads the predictions again and
        numbers the rows from ``first_row`` again, and only one batch is held
        at a time, however many anomalies the table has.

    Raises:
        KeyError: When a column is missing from the predictions; for a
            stream, raised at once, before anything is read.
    """
    if isinstance(predictions, pd.DataFrame):
        return _frame_anomalies(predictions, time_column, feature_columns, first_row)

    selected = as_batches(predictions).select(
        [time_column, *feature_columns, "prediction", "anomaly_score"]
    )

    def anomaly_frames(columns: list[str] | None) -> Iterator[pd.DataFrame]:
        # The running offset is why this is a source and not a ``map``: a
        # per-batch function cannot know how many rows came before its batch.
        offset = first_row
        for frame in selected:
            anomalies = _frame_anomalies(frame, time_column, feature_columns, offset)
            offset += len(frame)
            yield anomalies if columns is None else anomalies[columns]

    return ReadingBatches(
        anomaly_frames,
        ["row_number", "time", *feature_columns, "anomaly_score"],
        description=f"anomalies of {selected.description}",
    )


def _frame_anomalies(
    predictions: pd.DataFrame,
    time_column: str,
    feature_columns: list[str],
    first_row: int,
) -> pd.DataFrame:
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


def count_predictions(predictions: Any) -> PredictionCounts:
    """Counts scored rows and rows per class.

    Args:
        predictions: Output of ``score_features``, a pandas frame or a
            ``ReadingBatches`` stream (only its ``prediction`` column is read).
    """
    rows = anomalies = 0
    for frame in as_batches(predictions).select(["prediction"]):
        rows += len(frame)
        anomalies += int((frame["prediction"] == -1).sum())
    return PredictionCounts(rows=rows, anomalies=anomalies, inliers=rows - anomalies)


def sample_for_plots(
    predictions: Any, max_inliers: int, max_anomalies: int | None = None
) -> pd.DataFrame:
    """Keeps at most ``max_inliers`` inliers and ``max_anomalies`` anomalies.

    Within each class the rows kept are those whose row hash is smallest, so
    the choice depends only on the rows' values: sampling batches one by one
    and then sampling the concatenation of the results keeps exactly the rows
    that sampling the whole table at once keeps. A stream is sampled that way,
    batch by batch, holding the sample and a few batches' samples at a time.

    Args:
        predictions: Output of ``score_features``, a pandas frame or a
            ``ReadingBatches`` stream: the reading columns, ``prediction`` (1
            inlier, -1 anomaly) and ``anomaly_score``.
        max_inliers: Most inlier rows to keep; must be at least 0.
        max_anomalies: Most anomalous rows to keep (at least 0); None keeps
            every anomaly, and memory then grows with their number.

    Returns:
        A new frame with the columns of ``predictions`` and a fresh index: up
        to ``max_anomalies`` rows with ``prediction == -1`` and up to
        ``max_inliers`` other rows (all of a class when it has no more), in
        their original order.
    """
    if isinstance(predictions, pd.DataFrame):
        return _sample_frame(predictions, max_inliers, max_anomalies)

    kept: pd.DataFrame | None = None
    waiting: list[pd.DataFrame] = []
    waiting_rows = 0
    for frame in predictions:
        waiting.append(_sample_frame(frame, max_inliers, max_anomalies))
        waiting_rows += len(waiting[-1])
        # Merging only once as many rows wait as are kept copies each row a
        # bounded number of times, so the pass stays linear in the rows read
        # even when every anomaly is kept; merging after each batch would copy
        # the kept rows once per batch.
        if kept is None or waiting_rows >= len(kept):
            kept = _merge_samples(kept, waiting, max_inliers, max_anomalies)
            waiting, waiting_rows = [], 0
    if kept is None:
        return pd.DataFrame(columns=list(predictions.columns))
    return _merge_samples(kept, waiting, max_inliers, max_anomalies)


def _merge_samples(
    kept: pd.DataFrame | None,
    samples: list[pd.DataFrame],
    max_inliers: int,
    max_anomalies: int | None,
) -> pd.DataFrame:
    frames = [frame for frame in [kept, *samples] if frame is not None]
    if len(frames) == 1:
        return frames[0]
    combined = pd.concat(frames, ignore_index=True)
    return _sample_frame(combined, max_inliers, max_anomalies)


def _sample_frame(
    predictions: pd.DataFrame, max_inliers: int, max_anomalies: int | None
) -> pd.DataFrame:
    is_anomaly = predictions["prediction"].to_numpy() == -1
    keep = np.zeros(len(predictions), dtype=bool)
    keep[_smallest_hashes(predictions, np.flatnonzero(~is_anomaly), max_inliers)] = True
    anomaly_positions = np.flatnonzero(is_anomaly)
    if max_anomalies is not None:
        anomaly_positions = _smallest_hashes(
            predictions, anomaly_positions, max_anomalies
        )
    keep[anomaly_positions] = True

    return predictions[keep].reset_index(drop=True)


def _smallest_hashes(
    predictions: pd.DataFrame, positions: np.ndarray, limit: int
) -> np.ndarray:
    """The (at most ``limit``) of ``positions`` whose rows hash smallest."""
    if len(positions) <= limit:
        return positions
    keys = pd.util.hash_pandas_object(
        predictions.iloc[positions], index=False
    ).to_numpy()
    return positions[np.argpartition(keys, limit)[:limit]]
