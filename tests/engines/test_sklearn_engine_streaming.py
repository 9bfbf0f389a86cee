"""The streaming sklearn engine gives scikit-learn's numbers, batch by batch."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import ChainStep
from shape.engines import feature_names
from shape.engines import sklearn_engine as engine
from shape.engines.batches import ReadingBatches
from shape.synthetic import generate_readings
from tests.engines.conftest import FEATURE_COLUMNS


def _in_memory_pipeline(steps: list[ChainStep], n_rows: int) -> Pipeline:
    """The chain as plain scikit-learn, as the direct approach builds it."""
    estimators = []
    for step in steps:
        args = dict(step.args)
        if step.transformer == "QuantileTransformer":
            args["n_quantiles"] = min(args["n_quantiles"], n_rows)
            estimators.append((step.name, QuantileTransformer(**args)))
        elif step.transformer == "StandardScaler":
            estimators.append((step.name, StandardScaler(**args)))
        else:
            estimators.append((step.name, PolynomialFeatures(**args)))
    return Pipeline(estimators)


def _state(chain, name: str) -> dict:
    return next(step.state for step in chain.steps if step.name == name)


def test_fit_on_one_batch_is_identical_to_in_memory_fit(
    challenge_readings, challenge_steps
):
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    reference = _in_memory_pipeline(challenge_steps, len(challenge_readings)).fit(
        challenge_readings[FEATURE_COLUMNS].to_numpy()
    )

    quantiles = _state(chain, "qtransf")
    np.testing.assert_array_equal(
        quantiles["quantiles"], reference.named_steps["qtransf"].quantiles_
    )
    np.testing.assert_array_equal(
        quantiles["references"], reference.named_steps["qtransf"].references_
    )
    scaler = _state(chain, "stdscaler")
    for attribute in ("mean", "var", "scale"):
        np.testing.assert_array_equal(
            scaler[attribute],
            getattr(reference.named_steps["stdscaler"], f"{attribute}_"),
        )
    assert scaler["n_samples_seen"] == chain.n_rows_fitted == 295


@pytest.mark.parametrize("batch_rows", [7, 64, 294])
def test_fit_across_batch_sizes_matches_one_batch(
    challenge_readings, challenge_steps, batch_rows
):
    whole = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    batches = ReadingBatches.from_frame(challenge_readings, batch_rows=batch_rows)
    streamed = engine.fit_chain(batches, challenge_steps, FEATURE_COLUMNS)

    # Below `subsample` every row is kept in order: the quantiles are exact.
    assert _state(streamed, "qtransf") == _state(whole, "qtransf")
    # The scaler's merged mean and variance differ only by rounding.
    for attribute in ("mean", "var", "scale"):
        np.testing.assert_allclose(
            _state(streamed, "stdscaler")[attribute],
            _state(whole, "stdscaler")[attribute],
            rtol=1e-12,
            atol=1e-14,
        )
    assert streamed.n_rows_fitted == 295


def test_streamed_scaler_mean_and_variance_match_numpy():
    rng = np.random.default_rng(3)
    features = rng.normal(50.0, 7.0, size=(10_001, 4)) * [1.0, 1e-3, 1e3, 1.0]
    frame = pd.DataFrame(features, columns=list("abcd"))
    steps = [
        ChainStep("scale", "StandardScaler", {"with_mean": True, "with_std": True})
    ]

    chain = engine.fit_chain(
        ReadingBatches.from_frame(frame, batch_rows=333), steps, list("abcd")
    )

    state = chain.steps[0].state
    np.testing.assert_allclose(state["mean"], features.mean(axis=0), rtol=1e-13)
    # Population variance (ddof=0), as scikit-learn's StandardScaler keeps it.
    np.testing.assert_allclose(state["var"], features.var(axis=0), rtol=1e-11)
    assert state["n_samples_seen"] == 10_001


def _quantile_step(subsample: int, random_state: int | None) -> ChainStep:
    return ChainStep(
        "qtransf",
        "QuantileTransformer",
        {
            "n_quantiles": 20,
            "output_distribution": "normal",
            "subsample": subsample,
            "random_state": random_state,
        },
    )


def test_quantiles_above_subsample_come_from_a_seeded_row_sample(challenge_readings):
    step = _quantile_step(subsample=50, random_state=11)
    frames = [
        ReadingBatches.from_frame(challenge_readings, batch_rows=rows)
        for rows in (7, 295)
    ]

    fitted = [engine.fit_chain(frame, [step], FEATURE_COLUMNS) for frame in frames]

    # The sample depends on the seed, not on the batch size.
    assert fitted[0].steps[0].state == fitted[1].steps[0].state
    sample = engine.RowSample(50, seed=11)
    sample.add(challenge_readings[FEATURE_COLUMNS].to_numpy())
    expected = QuantileTransformer(n_quantiles=20, output_distribution="normal").fit(
        sample.rows
    )
    np.testing.assert_array_equal(
        fitted[0].steps[0].state["quantiles"], expected.quantiles_
    )
    assert fitted[0].n_rows_fitted == 295


def test_row_sample_is_uniform_without_replacement_and_reproducible():
    rows = np.arange(10_000, dtype="float64")[:, None]
    counts = np.zeros(10_000)
    for seed in range(200):
        first, second = engine.RowSample(100, seed), engine.RowSample(100, seed)
        for start in range(0, 10_000, 997):
            first.add(rows[start : start + 997])
        second.add(rows)
        np.testing.assert_array_equal(first.rows, second.rows)
        assert len(np.unique(first.rows)) == 100
        counts[first.rows[:, 0].astype(int)] += 1

    other = engine.RowSample(100, seed=1_000)
    other.add(rows)
    assert not np.array_equal(other.rows, first.rows)
    # 200 samples of 100 out of 10,000: each row is drawn twice on average. The
    # first and last thousand rows are drawn about as often as each other.
    assert 1500 < counts[:1000].sum() < 2500
    assert 1500 < counts[-1000:].sum() < 2500


def test_row_sample_keeps_every_row_in_order_up_to_its_size():
    sample = engine.RowSample(10, seed=0)
    rows = np.arange(20, dtype="float64").reshape(10, 2)
    sample.add(rows[:3])
    sample.add(rows[3:])
    np.testing.assert_array_equal(sample.rows, rows)


@pytest.mark.parametrize(
    "steps",
    [
        [
            ChainStep(
                "p1",
                "PolynomialFeatures",
                {"degree": 2, "interaction_only": False, "include_bias": True},
            ),
            ChainStep(
                "q",
                "QuantileTransformer",
                {
                    "n_quantiles": 50,
                    "output_distribution": "normal",
                    "subsample": 10_000,
                    "random_state": 0,
                },
            ),
            ChainStep(
                "p2",
                "PolynomialFeatures",
                {"degree": 2, "interaction_only": True, "include_bias": False},
            ),
            ChainStep("s", "StandardScaler", {"with_mean": True, "with_std": True}),
        ],
        [
            ChainStep(
                "q",
                "QuantileTransformer",
                {
                    "n_quantiles": 30,
                    "output_distribution": "uniform",
                    "subsample": 10_000,
                    "random_state": 0,
                },
            ),
            ChainStep(
                "p",
                "PolynomialFeatures",
                {"degree": 3, "interaction_only": False, "include_bias": True},
            ),
            ChainStep("s", "StandardScaler", {"with_mean": False, "with_std": True}),
        ],
        [
            ChainStep(
                "p",
                "PolynomialFeatures",
                {"degree": 1, "interaction_only": False, "include_bias": False},
            ),
            ChainStep("s", "StandardScaler", {"with_mean": True, "with_std": False}),
        ],
    ],
    ids=["normal-interactions", "uniform-cubic", "linear-centre-only"],
)
def test_transform_is_bit_identical_to_scikit_learn(steps):
    rng = np.random.default_rng(5)
    fit_rows = rng.normal(size=(400, 3))
    # Repeated values, and values beyond the fitted range on both sides.
    fit_rows[:40, 0] = 0.25
    frame = pd.DataFrame(fit_rows, columns=FEATURE_COLUMNS)
    chain = engine.fit_chain(frame, steps, FEATURE_COLUMNS)
    score_rows = np.vstack([rng.normal(scale=3.0, size=(500, 3)), fit_rows])

    transformed = engine.transform_readings(
        pd.DataFrame(score_rows, columns=FEATURE_COLUMNS), chain
    )

    expected = engine.build_pipeline(chain).transform(score_rows)
    np.testing.assert_array_equal(
        transformed[feature_names(chain.n_features_out)].to_numpy(), expected
    )


def test_vectorised_decision_function_equals_libsvm_on_real_data(
    challenge_readings, challenge_steps, challenge_model
):
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    features = engine.transform_readings(challenge_readings, chain)[
        feature_names(66)
    ].to_numpy()

    scores = engine.decision_scores(challenge_model, features)

    np.testing.assert_allclose(
        scores, challenge_model.decision_function(features), rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(
        np.where(scores > 0, 1, -1), challenge_model.predict(features)
    )


def test_vectorised_decision_function_equals_libsvm_on_a_million_rows(
    challenge_readings, challenge_steps, challenge_model
):
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)
    apply = engine.array_pipeline(chain.steps)
    largest = 0.0
    for start in range(0, 1_000_000, 250_000):
        readings = generate_readings(
            250_000, seed=9, source=challenge_readings, start_row=start
        )
        features = apply(readings[FEATURE_COLUMNS].to_numpy())

        scores = engine.decision_scores(challenge_model, features)

        libsvm = challenge_model.decision_function(features)
        largest = max(largest, float(np.abs(scores - libsvm).max()))
        np.testing.assert_array_equal(np.sign(scores) > 0, libsvm > 0)
    assert largest <= 1e-9


def test_a_model_other_than_an_rbf_one_class_svm_scores_with_its_own_function():
    class Threshold:
        def decision_function(self, features):
            return features[:, 0] - 1.0

    features = np.array([[0.5, 9.0], [2.0, 9.0]])
    np.testing.assert_array_equal(
        engine.decision_scores(Threshold(), features), [-0.5, 1.0]
    )


def test_stream_functions_are_lazy_and_give_the_frame_results(
    challenge_readings, challenge_steps, challenge_model
):
    stream = ReadingBatches.from_frame(challenge_readings, batch_rows=50)
    chain = engine.fit_chain(challenge_readings, challenge_steps, FEATURE_COLUMNS)

    streamed = engine.score_features(
        engine.transform_readings(
            engine.select_readings(stream, "time", FEATURE_COLUMNS), chain
        ),
        challenge_model,
        66,
    )
    in_memory = engine.score_features(
        engine.transform_readings(
            engine.select_readings(challenge_readings, "time", FEATURE_COLUMNS), chain
        ),
        challenge_model,
        66,
    )

    assert isinstance(streamed, ReadingBatches)
    assert streamed.columns == list(in_memory.columns)
    pd.testing.assert_frame_equal(streamed.to_pandas(), in_memory)
    assert engine.count_predictions(streamed) == engine.count_predictions(in_memory)
    assert engine.count_predictions(streamed)["anomalies"] == 31


def test_check_readings_counts_invalid_values_over_all_batches():
    frame = pd.DataFrame(
        {"time": range(10), "a": [0.0, np.nan] * 5, "b": [np.inf] + [1.0] * 9}
    )

    check = engine.check_readings(
        ReadingBatches.from_frame(frame, batch_rows=3), ["a", "b"]
    )

    assert check == {
        "rows": 10,
        "invalid_rows": 6,
        "invalid_by_column": {"a": 5, "b": 1},
    }


def test_a_non_numeric_column_fails_when_the_stream_is_read():
    frame = pd.DataFrame({"time": [0.0, 1.0], "a": ["x", "y"]})
    stream = engine.select_readings(ReadingBatches.from_frame(frame), "time", ["a"])

    with pytest.raises(TypeError, match="Column 'a' must hold numbers"):
        engine.check_readings(stream, ["a"])


@pytest.mark.parametrize(
    ("times", "accepted"),
    [
        (["2024-01-01 00:00:00", "2024-01-01 00:00:01"], False),
        ([True, False], False),
        ([None, None], False),
        ([0, 1], True),
        (pd.to_datetime(["2024-01-01", "2024-01-02"]), True),
    ],
)
def test_the_time_column_must_hold_numbers_or_timestamps(times, accepted):
    frame = pd.DataFrame({"time": times, "a": [1.0, 2.0]})
    stream = engine.select_readings(ReadingBatches.from_frame(frame), "time", ["a"])

    if accepted:
        assert engine.check_readings(stream, ["a"])["rows"] == 2
    else:
        with pytest.raises(TypeError, match=r"Time column 'time' must hold numbers"):
            engine.check_readings(stream, ["a"])


def _scored_batches(
    n_batches: int, batch_rows: int, created: list[weakref.ref] | None = None
) -> ReadingBatches:
    """Predictions made up batch by batch, about 40% anomalies, never all held.

    Each batch is a new frame (row ``i`` of the table has ``time == i``); a
    weak reference to it is appended to ``created`` when it is handed out.
    """
    columns = ["time", "vibration_x", "prediction", "anomaly_score"]

    def batches(wanted: list[str] | None) -> Iterator[pd.DataFrame]:
        for index in range(n_batches):
            rng = np.random.default_rng(index)
            scores = rng.uniform(-0.4, 0.6, batch_rows)
            frame = pd.DataFrame(
                {
                    "time": np.arange(batch_rows, dtype="float64") + index * batch_rows,
                    "vibration_x": rng.normal(50, 5, batch_rows),
                    "prediction": np.where(scores > 0, 1, -1).astype("int64"),
                    "anomaly_score": scores,
                }
            )
            frame = frame if wanted is None else frame[wanted]
            if created is not None:
                created.append(weakref.ref(frame))
            yield frame

    return ReadingBatches(batches, columns, description="made-up predictions")


def test_select_anomalies_of_a_stream_reads_nothing_until_iterated():
    created: list[weakref.ref] = []

    anomalies = engine.select_anomalies(
        _scored_batches(5, 100, created), "time", ["vibration_x"]
    )

    assert isinstance(anomalies, ReadingBatches)
    assert created == []
    assert anomalies.columns == ["row_number", "time", "vibration_x", "anomaly_score"]


def test_select_anomalies_of_a_stream_holds_one_batch_at_a_time():
    created: list[weakref.ref] = []
    anomalies = engine.select_anomalies(
        _scored_batches(40, 1_000, created), "time", ["vibration_x"]
    )

    for position, batch in enumerate(anomalies):
        gc.collect()
        alive = [index for index, frame in enumerate(created) if frame() is not None]
        # The predictions batch this anomaly batch came from is the only one
        # read so far that is still in memory, and none was read ahead.
        assert (len(created), alive) == (position + 1, [position])
        assert 300 < len(batch) < 500
    assert len(created) == 40


def test_select_anomalies_of_a_stream_numbers_rows_across_batches():
    stream = _scored_batches(7, 333)
    table = stream.to_pandas()

    anomalies = engine.select_anomalies(stream, "time", ["vibration_x"], first_row=5)

    expected = engine.select_anomalies(table, "time", ["vibration_x"], first_row=5)
    pd.testing.assert_frame_equal(anomalies.to_pandas(), expected)
    # Row i of the made-up table has time i, so row numbers follow time.
    np.testing.assert_array_equal(
        expected["row_number"].to_numpy(), expected["time"].to_numpy() + 5
    )
    # Iterating again reads the predictions again and numbers from the start.
    pd.testing.assert_frame_equal(anomalies.to_pandas(), expected)


def test_select_anomalies_of_a_stream_names_a_missing_column_at_once():
    with pytest.raises(KeyError, match=r"Columns \['vibration_q'\] are not in"):
        engine.select_anomalies(_scored_batches(2, 10), "time", ["vibration_q"])
