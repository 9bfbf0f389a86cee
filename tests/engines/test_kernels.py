"""The compiled kernels give scikit-learn's numbers exactly, on awkward input too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import ChainStep
from shape.engines import kernels
from shape.engines import sklearn_engine as engine
from shape.engines.batches import ReadingBatches
from shape.synthetic import generate_readings
from tests.engines.conftest import FEATURE_COLUMNS


def _awkward_columns(rng: np.random.Generator, n_rows: int) -> np.ndarray:
    """Columns that stress the quantile search and numpy's special branches."""
    return np.column_stack(
        [
            rng.normal(size=n_rows),
            # Heavy tail: most quantiles crowd into a few of the index's buckets.
            rng.lognormal(sigma=3.0, size=n_rows),
            # Few distinct values: long runs of repeated quantiles.
            np.round(rng.normal(size=n_rows)),
            # Constant, like the bias column of PolynomialFeatures.
            np.ones(n_rows),
            # Negative values only.
            -rng.exponential(size=n_rows),
        ]
    )


def _scored_values(fitted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values to transform: the fitted rows themselves (every quantile is hit
    exactly), rows beyond the fitted range, next to it, and a missing value."""
    beyond = fitted * 3.0 - 1.0
    nudged = np.nextafter(fitted, np.inf)
    missing = np.full((1, fitted.shape[1]), np.nan)
    return np.vstack([fitted, beyond, nudged, missing, rng.permutation(fitted)])


@pytest.mark.parametrize("output_distribution", ["normal", "uniform"])
@pytest.mark.parametrize("n_quantiles", [2, 7, 1000])
def test_quantile_kernel_is_bit_identical_to_scikit_learn(
    output_distribution, n_quantiles
):
    rng = np.random.default_rng(n_quantiles)
    fitted = _awkward_columns(rng, 3_000)
    transformer = QuantileTransformer(
        n_quantiles=n_quantiles, output_distribution=output_distribution
    ).fit(fitted)
    values = _scored_values(fitted, rng)
    tables = kernels.quantile_tables(
        transformer.quantiles_, transformer.references_, output_distribution
    )

    result = kernels.quantile_transform(values, *tables, np.empty(values.shape))

    np.testing.assert_array_equal(result, transformer.transform(values))


def test_quantile_kernel_spreads_rows_over_cores_with_the_same_result():
    rng = np.random.default_rng(1)
    fitted = _awkward_columns(rng, 2_000)
    transformer = QuantileTransformer(output_distribution="normal").fit(fitted)
    # Many row blocks, so that every core takes some.
    values = _awkward_columns(rng, 50_000)
    tables = kernels.quantile_tables(
        transformer.quantiles_, transformer.references_, "normal"
    )

    result = kernels.quantile_transform(values, *tables, np.empty(values.shape))

    np.testing.assert_array_equal(result, transformer.transform(values))


def test_search_index_brackets_every_quantile():
    rng = np.random.default_rng(2)
    quantiles = np.sort(_awkward_columns(rng, 1_000), axis=0)

    lows, scales, starts = kernels.search_index(quantiles)

    n_buckets = starts.shape[0] - 1
    assert n_buckets == 4 * 1_000
    for column in range(quantiles.shape[1]):
        # starts counts the quantiles below each bucket: it rises from 0 to
        # all of them.
        assert starts[0, column] == 0
        assert starts[-1, column] == 1_000
        assert np.all(np.diff(starts[:, column]) >= 0)
    # The constant column puts every quantile in bucket 0.
    assert scales[3] == 0.0
    assert starts[1, 3] == 1_000
    np.testing.assert_array_equal(lows, quantiles[0])


@pytest.mark.parametrize(
    "arguments",
    [
        {"degree": 2},
        {"degree": 2, "include_bias": False},
        {"degree": 2, "interaction_only": True},
        {"degree": 1},
    ],
    ids=["full", "no-bias", "interactions", "linear"],
)
def test_polynomial_kernel_is_bit_identical_to_scikit_learn(arguments):
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1_000, 4))
    expansion = PolynomialFeatures(**arguments).fit(features)
    first, second = engine.polynomial_factors(expansion.powers_)

    result = kernels.polynomial_degree2(
        features, first, second, np.empty((1_000, len(first)))
    )

    np.testing.assert_array_equal(result, expansion.transform(features))


@pytest.mark.parametrize(
    ("with_mean", "with_std"),
    [(True, True), (False, True), (True, False)],
)
def test_streamed_scaler_is_bit_identical_to_partial_fit_on_the_same_batches(
    with_mean, with_std
):
    rng = np.random.default_rng(4)
    features = rng.normal(50.0, 7.0, size=(10_000, 3)) * [1.0, 1e-3, 1e3]
    expansion = PolynomialFeatures(degree=2).fit(features)
    expanded = expansion.transform(features)
    step = ChainStep(
        "scale", "StandardScaler", {"with_mean": with_mean, "with_std": with_std}
    )
    first, second = engine.polynomial_factors(expansion.powers_)
    moments = engine._ScalerMoments(expanded.shape[1], with_std)
    reference = StandardScaler(with_mean=with_mean, with_std=with_std)

    # Uneven batches, as the last batch of a table is.
    for start, stop in [(0, 4_096), (4_096, 8_192), (8_192, 9_999), (9_999, 10_000)]:
        batch = features[start:stop]
        moments.add(engine.BatchSums.of(batch, first, second, with_std))
        with np.errstate(invalid="ignore"):
            reference.partial_fit(expanded[start:stop])

    scaler = moments.to_scaler(step)
    assert scaler.n_samples_seen_ == reference.n_samples_seen_ == 10_000
    for attribute in ("mean_", "var_", "scale_"):
        expected = getattr(reference, attribute)
        if expected is None:
            assert getattr(scaler, attribute) is None
        else:
            np.testing.assert_array_equal(getattr(scaler, attribute), expected)


def test_array_pipeline_in_chunks_equals_scikit_learn(
    challenge_readings, challenge_steps
):
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    # More rows than one chunk, and not a multiple of it.
    readings = generate_readings(40_001, seed=5, source=challenge_readings)
    rows = readings[FEATURE_COLUMNS].to_numpy()

    result = engine.array_pipeline(chain.steps)(rows)

    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, engine.build_pipeline(chain).transform(rows))


def test_scoring_a_transformed_stream_never_builds_the_model_input(
    challenge_readings, challenge_steps, challenge_model, monkeypatch
):
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    readings = generate_readings(30_000, seed=6, source=challenge_readings)
    stream = ReadingBatches.from_frame(readings, batch_rows=7_000)
    expected = engine.score_features(
        engine.transform_readings(readings, chain), challenge_model, 66
    )

    def refuse(self, frame):
        raise AssertionError("the 66-column model input table was built")

    predictions = engine.score_features(
        engine.transform_readings(stream, chain), challenge_model, 66
    )
    monkeypatch.setattr(engine._ChainTransform, "__call__", refuse)
    streamed = predictions.to_pandas()

    pd.testing.assert_frame_equal(streamed, expected, check_exact=True)
    assert list(streamed.columns) == [
        "time",
        *FEATURE_COLUMNS,
        "prediction",
        "anomaly_score",
    ]
