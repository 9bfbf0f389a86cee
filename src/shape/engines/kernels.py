"""Compiled loops behind the sklearn engine's per-row arithmetic.

The chain's steps and the scaler's fit are simple per-value arithmetic, but
numpy spends most of their time on temporary arrays, and ``numpy.interp``
searches its table twice per value for the quantile transform. These functions
do the same arithmetic as the numpy and scikit-learn code they stand for,
operation for operation and in the same order, so their results are
bit-identical to it (``tests/engines/test_kernels.py`` compares them). They are
compiled by numba on first use (and cached on disk beside this file when it is
writable), spread their rows over the machine's cores, and write into arrays the
caller provides.

Only float64 C-contiguous arrays are expected; the callers in
``shape.engines.sklearn_engine`` make them so.
"""

from __future__ import annotations

import ctypes
import os

# numba runs ``prange`` loops on OpenMP threads. By default OpenMP threads
# keep spinning on a core for a while after each loop, waiting for the next;
# the engine runs thousands of short loops, and on a machine whose cores are
# shared (other jobs, the Parquet writer thread, Spark tasks) the spinning
# threads took the cores from the work itself: on a loaded two-core machine,
# scoring took three to four times as long. Passive threads sleep instead. It
# must be set before the OpenMP library starts, which happens at the first
# parallel loop; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from numba import njit, prange
from numba.extending import get_cython_function_address
from scipy.special import ndtri

#: scipy's own ``ndtri`` (the inverse of the standard normal CDF), the function
#: ``QuantileTransformer(output_distribution="normal")`` applies, as a C
#: function pointer. It is passed to the kernels as an argument: numba cannot
#: cache a compiled function that reads a ctypes pointer from a global.
NDTRI = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(
    get_cython_function_address("scipy.special.cython_special", "ndtri")
)

#: Margin scikit-learn's QuantileTransformer uses to map values at or beyond
#: the outer quantiles to 0 and 1 (``BOUNDS_THRESHOLD`` in its source).
BOUNDS_THRESHOLD = 1e-7

#: Buckets per quantile in the index ``quantile_transform`` searches
#: (``search_index``); 4,000 buckets, 16 KB per column, for 1,000 quantiles.
_BUCKETS_PER_QUANTILE = 4

#: Rows a core takes at a time in ``quantile_transform``.
_ROW_BLOCK = 2048


@njit(inline="always")
def _expanded(features, row, a, b):  # pragma: no cover - compiled
    # One value of a degree-2 expansion: 1 for the bias (a < 0), x_a alone
    # (b < 0), else the one multiplication scikit-learn makes.
    if a < 0:
        return 1.0
    if b < 0:
        return features[row, a]
    return features[row, a] * features[row, b]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def polynomial_degree2(features, first, second, out):  # pragma: no cover - compiled
    """``PolynomialFeatures`` of degree at most 2, row by row.

    Output column ``k`` is 1 when ``first[k] < 0``, ``features[:, first[k]]``
    when only ``second[k] < 0``, else the product of the two input columns, the
    same single multiplication scikit-learn makes.
    """
    n_rows = features.shape[0]
    n_out = first.shape[0]
    for row in prange(n_rows):
        for column in range(n_out):
            out[row, column] = _expanded(features, row, first[column], second[column])
    return out


def interpolation_slopes(xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """The slopes numpy.interp uses between consecutive points, per column.

    ``(fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])``, numpy's own formula; where
    two points are equal the slope is infinite or NaN, and never used.

    Args:
        xp: (n_points, n_columns), the points of each column.
        fp: (n_points,), the values at the points, shared by the columns.

    Returns:
        (n_points - 1, n_columns) in Fortran order.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asfortranarray(np.diff(fp)[:, None] / np.diff(xp, axis=0))


@njit(inline="always")
def _interp_at(x, xp, fp, slopes, j):  # pragma: no cover - compiled
    # numpy.interp's value for x, given j, the last index with xp[j] <= x
    # (-1 below xp[0], len(xp) above xp[-1]); the same branches as numpy's C
    # loop, including its second try when the first formula gives NaN.
    n = xp.shape[0]
    if j < 0:
        return fp[0]
    if j >= n:
        return fp[n - 1]
    if j == n - 1 or xp[j] == x:
        return fp[j]
    slope = slopes[j]
    value = slope * (x - xp[j]) + fp[j]
    if np.isnan(value):
        value = slope * (x - xp[j + 1]) + fp[j + 1]
        if np.isnan(value) and fp[j] == fp[j + 1]:
            value = fp[j]
    return value


@njit(inline="always")
def _bucket(x, low, scale, n_buckets):  # pragma: no cover - compiled
    # The bucket of x in [low, high]: buckets are equal slices of that range.
    # Monotone in x, which is all the search below relies on.
    position = (x - low) * scale
    if position >= n_buckets:
        return n_buckets - 1
    return int(position)


@njit(cache=True, error_model="numpy")
def _bucket_starts(quantiles, lows, scales, n_buckets):  # pragma: no cover
    # starts[b, column]: how many of the column's quantiles fall in buckets
    # below b (a running count of the quantiles per bucket).
    n_quantiles, n_columns = quantiles.shape
    starts = np.zeros((n_columns, n_buckets + 1), dtype=np.int32).T
    for column in range(n_columns):
        for j in range(n_quantiles):
            value = quantiles[j, column]
            starts[
                _bucket(value, lows[column], scales[column], n_buckets) + 1, column
            ] += 1
        for bucket in range(n_buckets):
            starts[bucket + 1, column] += starts[bucket, column]
    return starts


def search_index(quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bucket index over each column's quantiles for ``quantile_transform``.

    The range of each column (first to last quantile) is cut into
    ``_BUCKETS_PER_QUANTILE`` equal buckets per quantile; ``starts[b]`` counts
    the quantiles in buckets below ``b``. A value's bucket then brackets its
    place among the quantiles to a few entries, so finding it takes one or two
    steps instead of a binary search of the whole column.

    Args:
        quantiles: (n_quantiles, n_columns), sorted down each column.

    Returns:
        ``lows`` and ``scales`` (per column: a value x falls in bucket
        ``int((x - low) * scale)``, 0 for a constant column) and ``starts``,
        (n_buckets + 1, n_columns) int32 in Fortran order.
    """
    n_quantiles = quantiles.shape[0]
    n_buckets = _BUCKETS_PER_QUANTILE * n_quantiles
    lows = np.ascontiguousarray(quantiles[0], dtype="float64")
    spans = quantiles[-1] - quantiles[0]
    with np.errstate(divide="ignore", over="ignore"):
        scales = np.where(spans > 0, n_buckets / spans, 0.0)
    scales[~np.isfinite(scales)] = 0.0
    starts = _bucket_starts(
        np.asfortranarray(quantiles, dtype="float64"), lows, scales, n_buckets
    )
    return lows, scales, starts


@njit(inline="always")
def _last_at_or_below(x, xp, low, scale, starts):  # pragma: no cover - compiled
    # The last index j with xp[j] <= x, for xp[0] <= x <= xp[-1]. Every
    # quantile in a bucket below x's is below x, every one in a bucket above is
    # above it: the answer lies between the last quantile of the buckets below
    # (or the first quantile) and the last one of x's bucket. That short range
    # is searched without data-dependent branches, so random input does not
    # stall the processor on mispredicted jumps.
    n_buckets = starts.shape[0] - 1
    bucket = _bucket(x, low, scale, n_buckets)
    base = max(starts[bucket] - 1, 0)
    length = starts[bucket + 1] - base
    while length > 1:
        half = length >> 1
        if xp[base + half] <= x:
            base += half
        length -= half
    return base


def _interval_records(
    quantiles: np.ndarray,
    references: np.ndarray,
    reversed_tables: tuple[np.ndarray, np.ndarray],
    slopes: np.ndarray,
    reversed_slopes: np.ndarray,
) -> np.ndarray:
    """Everything both interpolations read for a value between two quantiles.

    For a value x with ``q[j] < x < q[j + 1]``, numpy's forward interpolation
    reads ``q[j]``, the slope ``j`` and ``r[j]``; the interpolation of -x in the
    reversed table reads entry ``k = n - 2 - j`` of it: ``-q[j + 1]``, its
    slope ``k`` and ``-r[j + 1]``. Packing the six numbers of interval ``j``
    side by side (eight to a record, 64 bytes, one cache line) lets
    ``quantile_transform`` fetch them at once. The numbers are copied from the
    tables numpy would read, not recomputed.

    Returns:
        (n_columns, n_quantiles, 8) float64: ``q[j]``, slope ``j``, ``r[j]``,
        then the reversed table's point, slope and value at ``k``, then
        ``q[j + 1]``; the last record of a column holds only ``q[n - 1]``.
    """
    reversed_quantiles, reversed_references = reversed_tables
    n_quantiles, n_columns = quantiles.shape
    records = np.zeros((n_columns, n_quantiles, 8))
    records[:, :, 0] = quantiles.T
    records[:, :, 2] = references
    if n_quantiles > 1:
        intervals = np.arange(n_quantiles - 1)
        reversed_index = n_quantiles - 2 - intervals
        records[:, :-1, 1] = slopes.T
        records[:, :-1, 3] = reversed_quantiles[reversed_index].T
        records[:, :-1, 4] = reversed_slopes[reversed_index].T
        records[:, :-1, 5] = reversed_references[reversed_index]
        records[:, :-1, 6] = quantiles[1:].T
    return records


def quantile_tables(
    quantiles: np.ndarray, references: np.ndarray, output_distribution: str
) -> tuple:
    """The arguments of ``quantile_transform`` between ``features`` and ``out``.

    Args:
        quantiles: A fitted ``QuantileTransformer``'s ``quantiles_``.
        references: Its ``references_``.
        output_distribution: Its ``output_distribution``.
    """
    quantiles = np.asfortranarray(quantiles, dtype="float64")
    references = np.ascontiguousarray(references, dtype="float64")
    reversed_quantiles = np.asfortranarray(-quantiles[::-1])
    reversed_references = np.ascontiguousarray(-references[::-1])
    slopes = interpolation_slopes(quantiles, references)
    reversed_slopes = interpolation_slopes(reversed_quantiles, reversed_references)
    records = _interval_records(
        quantiles,
        references,
        (reversed_quantiles, reversed_references),
        slopes,
        reversed_slopes,
    )
    return (
        quantiles,
        references,
        reversed_quantiles,
        reversed_references,
        slopes,
        reversed_slopes,
        records,
        *search_index(quantiles),
        output_distribution == "normal",
        # scikit-learn clips the normal output just inside the outer quantiles.
        float(ndtri(BOUNDS_THRESHOLD - np.spacing(1))),
        float(ndtri(1 - (BOUNDS_THRESHOLD - np.spacing(1)))),
        NDTRI,
    )


# One compiled loop over many arrays: numba takes them as positional arguments,
# and splitting the branches into calls would cost a call per value.
@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def quantile_transform(  # noqa: PLR0912, PLR0917
    features,
    quantiles,
    references,
    reversed_quantiles,
    reversed_references,
    slopes,
    reversed_slopes,
    records,
    lows,
    scales,
    starts,
    normal,
    clip_min,
    clip_max,
    ndtri,
    out,
):  # pragma: no cover - compiled
    """``QuantileTransformer.transform`` for a fitted transformer.

    Per value, as scikit-learn: ``0.5 * (interp(x, q, r) - interp(-x, -q[::-1],
    -r[::-1]))`` (the average places a value equal to repeated quantiles in
    their middle), then 0 below the outer quantiles and 1 above, then for a
    normal output ``ndtri`` clipped to ``[clip_min, clip_max]``. Both
    interpolations are numpy's, computed from one search of the quantiles: a
    value strictly between two quantiles reads one record of
    ``interval_records``; a value equal to a quantile goes through numpy's
    branches for exact and repeated points.

    Args:
        features: (n_rows, n_columns).
        quantiles: (n_quantiles, n_columns) in Fortran order, ``quantiles_``.
        references: ``references_``.
        reversed_quantiles: ``-quantiles[::-1]``, Fortran order.
        reversed_references: ``-references[::-1]``.
        slopes, reversed_slopes: ``interpolation_slopes`` of the two tables.
        records: ``interval_records`` of all the above.
        lows, scales, starts: ``search_index(quantiles)``.
        normal: Whether ``output_distribution`` is ``"normal"``.
        clip_min, clip_max: scikit-learn's clip of the normal output.
        ndtri: ``NDTRI``.
        out: (n_rows, n_columns), written.
    """
    n_rows, n_columns = features.shape
    n_quantiles = quantiles.shape[0]
    # Rows are taken in blocks, and a block column by column, so that one
    # column's tables stay in the processor's cache.
    n_blocks = (n_rows + _ROW_BLOCK - 1) // _ROW_BLOCK
    for block in prange(n_blocks):
        start = block * _ROW_BLOCK
        stop = min(start + _ROW_BLOCK, n_rows)
        for column in range(n_columns):
            xp = quantiles[:, column]
            column_records = records[column]
            column_starts = starts[:, column]
            column_low = lows[column]
            column_scale = scales[column]
            low = xp[0]
            high = xp[n_quantiles - 1]
            for row in range(start, stop):
                x = features[row, column]
                if normal:
                    above = x + BOUNDS_THRESHOLD > high
                    below = x - BOUNDS_THRESHOLD < low
                else:
                    above = x == high
                    below = x == low
                # scikit-learn overwrites the interpolation with 0 or 1 there.
                if below:
                    value = 0.0
                elif above:
                    value = 1.0
                elif np.isnan(x):
                    value = x
                else:
                    value = np.nan
                    if x < low or x >= high:
                        up = n_quantiles - 1 if x >= high else -1
                    else:
                        up = _last_at_or_below(
                            x,
                            column_records[:, 0],
                            column_low,
                            column_scale,
                            column_starts,
                        )
                        record = column_records[up]
                        forward = record[1] * (x - record[0]) + record[2]
                        backward = record[4] * (-x - record[3]) + record[5]
                        if record[0] < x:
                            value = 0.5 * (forward - backward)
                    # Outside the quantiles, on one of them, or where numpy's
                    # first formula gives NaN: numpy's own branches.
                    if np.isnan(value):
                        value = _both_interpolations(
                            x,
                            xp,
                            references,
                            reversed_quantiles[:, column],
                            reversed_references,
                            slopes[:, column],
                            reversed_slopes[:, column],
                            up,
                        )
                if normal:
                    value = ndtri(value)
                    # As numpy.clip: NaN stays NaN.
                    if value < clip_min:
                        value = clip_min
                    elif value > clip_max:
                        value = clip_max
                out[row, column] = value
    return out


@njit(inline="always")
def _both_interpolations(  # noqa: PLR0917
    x, xp, fp, reversed_xp, reversed_fp, slopes, reversed_slopes, up
):  # pragma: no cover - compiled
    # scikit-learn's average of the two interpolations by numpy's general
    # branches, given up, the last index with xp[up] <= x (-1 below xp[0]).
    n = xp.shape[0]
    if up < 0:
        # Below the first point: numpy gives each table's outer value.
        return 0.5 * (fp[0] - reversed_fp[n - 1])
    # For -x in the reversed table numpy finds the last k with
    # -xp[n-1-k] <= -x: n-1-k is the first index with xp >= x.
    first_at_or_above = up + 1
    if xp[up] == x:
        first_at_or_above = up
        while first_at_or_above > 0 and xp[first_at_or_above - 1] == x:
            first_at_or_above -= 1
    down = n - 1 - first_at_or_above
    if x > xp[n - 1]:
        up, down = n, -1
    return 0.5 * (
        _interp_at(x, xp, fp, slopes, up)
        - _interp_at(-x, reversed_xp, reversed_fp, reversed_slopes, down)
    )


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def standard_scale(features, mean, scale, out):  # pragma: no cover - compiled
    """``StandardScaler.transform``: ``(x - mean) / scale`` column by column.

    A scaler without centring passes a mean of zeros, one without scaling a
    scale of ones: subtracting 0 and dividing by 1 leave every value unchanged.
    """
    n_rows, n_columns = features.shape
    for row in prange(n_rows):
        for column in range(n_columns):
            out[row, column] = (features[row, column] - mean[column]) / scale[column]
    return out


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def polynomial_column_sums(features, first, second):  # pragma: no cover - compiled
    """Column sums of ``polynomial_degree2(features, first, second)``.

    The expanded table is never built: each output column is computed as it is
    added. Sums run down the rows in order, the order of numpy's ``sum(axis=0)``
    on a row-major table, so they are bit-identical to it; the columns are
    shared out between the cores.
    """
    n_rows = features.shape[0]
    n_out = first.shape[0]
    sums = np.zeros(n_out)
    for column in prange(n_out):
        a = first[column]
        b = second[column]
        total = 0.0
        for row in range(n_rows):
            value = _expanded(features, row, a, b)
            total += value
        sums[column] = total
    return sums


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def polynomial_centred_sums(features, first, second, centre):  # pragma: no cover
    """Sums of ``x - centre`` and of ``(x - centre) ** 2`` per expanded column.

    ``x`` is a column of ``polynomial_degree2(features, first, second)``; the
    two sums are those of scikit-learn's two-pass variance
    (``_incremental_mean_and_var``), in numpy's order (see
    ``polynomial_column_sums``).
    """
    n_rows = features.shape[0]
    n_out = first.shape[0]
    deviations = np.zeros(n_out)
    squares = np.zeros(n_out)
    for column in prange(n_out):
        a = first[column]
        b = second[column]
        total = 0.0
        total_squares = 0.0
        for row in range(n_rows):
            value = _expanded(features, row, a, b)
            deviation = value - centre[column]
            total += deviation
            total_squares += deviation * deviation
        deviations[column] = total
        squares[column] = total_squares
    return deviations, squares
