"""The Spark engine computes what scikit-learn computes, step by step.

Each test builds a small frame, runs the Spark engine on it and compares with
scikit-learn itself (or with the scikit-learn engine) on the same numbers.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import FittedChain, parse_chain_spec, read_jsonc_steps
from shape.engines import feature_names, sklearn_engine, spark_engine

COLUMNS = ["a", "b", "c"]
CHALLENGE_COLUMNS = ["vibration_x", "vibration_y", "vibration_z"]


def _to_spark(spark: SparkSession, frame: pd.DataFrame, partitions: int = 3):
    return spark.createDataFrame(frame).repartition(partitions)


def _frame(values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame.insert(0, "time", np.arange(len(frame), dtype="float64"))
    return frame


def _features(spark_frame, n_features: int) -> np.ndarray:
    """The model input features of a Spark table, in time order."""
    table = spark_frame.toPandas().sort_values("time")
    return table[feature_names(n_features)].to_numpy()


def _chain(step: dict) -> list:
    return parse_chain_spec({"step": step})


@pytest.fixture
def skewed() -> np.ndarray:
    """40 rows: a heavy-tailed column, one with many ties, one near constant."""
    rng = np.random.default_rng(7)
    return np.column_stack(
        [
            rng.lognormal(0.0, 1.0, 40),
            rng.integers(0, 4, 40).astype("float64"),
            np.full(40, 3.0) + rng.normal(0.0, 1e-3, 40),
        ]
    )


@pytest.fixture
def challenge_readings(challenge_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(challenge_dir / "dataset.parquet")


@pytest.fixture
def challenge_steps(challenge_dir: Path) -> list:
    return parse_chain_spec(read_jsonc_steps(challenge_dir / "pipeline.jsonc"))


# ---- select_readings and check_readings ------------------------------------


def test_select_readings_keeps_time_then_features_as_double(spark):
    frame = pd.DataFrame(
        {
            "extra": ["x", "y"],
            "c": [1, 2],
            "time": [0.5, 1.5],
            "a": [3, 4],
            "b": [5.0, 6.0],
        }
    )

    selected = spark_engine.select_readings(_to_spark(spark, frame, 1), "time", COLUMNS)

    assert selected.columns == ["time", *COLUMNS]
    assert {name: kind for name, kind in selected.dtypes} == {
        "time": "double",
        "a": "double",
        "b": "double",
        "c": "double",
    }
    assert selected.toPandas()["a"].tolist() == [3.0, 4.0]


@pytest.mark.parametrize("values", [["1", "2"], [True, False]])
def test_select_readings_refuses_non_numeric_column(spark, values):
    frame = pd.DataFrame(
        {"time": [0.0, 1.0], "a": [1.0, 2.0], "b": values, "c": [1, 2]}
    )

    with pytest.raises(TypeError, match=r"Column 'b' must hold numbers.*found Spark"):
        spark_engine.select_readings(_to_spark(spark, frame, 1), "time", COLUMNS)


@pytest.mark.parametrize(
    ("times", "accepted"),
    [
        (["2024-01-01 00:00:00", "2024-01-01 00:00:01"], False),
        ([True, False], False),
        ([0, 1], True),
        (pd.to_datetime(["2024-01-01", "2024-01-02"]), True),
    ],
)
def test_select_readings_takes_a_numeric_or_timestamp_time_column(
    spark, times, accepted
):
    frame = pd.DataFrame({"time": times, "a": [1.0, 2.0], "b": 1.0, "c": 2.0})
    readings = _to_spark(spark, frame, 1)

    if accepted:
        selected = spark_engine.select_readings(readings, "time", COLUMNS)
        assert selected.count() == 2
    else:
        with pytest.raises(TypeError, match=r"Time column 'time' must hold numbers"):
            spark_engine.select_readings(readings, "time", COLUMNS)


def test_check_readings_counts_missing_and_infinite_values(spark):
    frame = _frame(
        np.array(
            [
                [1.0, 2.0, 3.0],
                [np.nan, 2.0, np.inf],
                [1.0, -np.inf, 3.0],
                [1.0, 2.0, 3.0],
            ]
        )
    )
    spark_frame = spark.createDataFrame(frame)
    spark_frame = spark_frame.union(
        spark.createDataFrame([(9.0, None, 1.0, 1.0)], spark_frame.schema)
    )

    check = spark_engine.check_readings(spark_frame, COLUMNS)

    assert check == {
        "rows": 5,
        "invalid_rows": 3,
        "invalid_by_column": {"a": 2, "b": 1, "c": 1},
    }


def _jobs_of(spark: SparkSession, group: str, action) -> tuple[object, int]:
    """What ``action()`` returns, and how many Spark jobs it ran."""
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        result = action()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return result, len(context.statusTracker().getJobIdsForGroup(group))


def test_fit_reuses_the_row_count_of_a_clean_check(spark):
    frame = _to_spark(spark, _frame(np.arange(30.0).reshape(10, 3)))
    expansion = _chain({"PolynomialFeatures": {"degree": 2}})
    spark_engine.check_readings(frame, COLUMNS)

    def fit(table):
        return lambda: spark_engine.fit_chain(table, expansion, COLUMNS)

    chain, jobs = _jobs_of(spark, "fit-after-check", fit(frame))

    # Fitting an expansion runs nothing but the count, which the check gave.
    assert jobs == 0
    assert chain.n_rows_fitted == 10
    unchecked = _to_spark(spark, _frame(np.arange(30.0).reshape(10, 3)))
    _, jobs = _jobs_of(spark, "fit-unchecked", fit(unchecked))
    # The control: without the check, the count runs (with the shuffle of the
    # frame's repartition, in more than one job).
    assert jobs >= 1


def test_fit_counts_a_frame_whose_check_found_invalid_rows(spark):
    values = np.arange(30.0).reshape(10, 3)
    values[4, 1] = np.nan
    frame = _to_spark(spark, _frame(values))
    assert spark_engine.check_readings(frame, COLUMNS)["invalid_rows"] == 1

    chain = spark_engine.fit_chain(
        frame, _chain({"PolynomialFeatures": {"degree": 2}}), COLUMNS
    )

    # Every row of the frame it was given, not the check's valid rows.
    assert chain.n_rows_fitted == 10


def test_check_readings_of_an_empty_table(spark):
    empty = spark.createDataFrame(_frame(np.ones((1, 3)))).limit(0)

    assert spark_engine.check_readings(empty, COLUMNS) == {
        "rows": 0,
        "invalid_rows": 0,
        "invalid_by_column": {},
    }


def test_split_invalid_rows_matches_the_sklearn_engine(spark):
    frame = _frame(
        np.array(
            [
                [1.0, 2.0, 3.0],
                [np.nan, 2.0, np.inf],
                [1.0, -np.inf, 3.0],
                [4.0, 5.0, 6.0],
            ]
        )
    )

    split = spark_engine.split_invalid_rows(spark.createDataFrame(frame), COLUMNS)
    expected = sklearn_engine.split_invalid_rows(frame, COLUMNS)

    valid = split["valid"].toPandas().sort_values("time", ignore_index=True)
    rejected = split["rejected"].toPandas().sort_values("time", ignore_index=True)
    pd.testing.assert_frame_equal(valid, expected["valid"])
    # Spark hands strings back as object; the sklearn engine uses a string dtype.
    pd.testing.assert_frame_equal(
        rejected, expected["rejected"].astype({"rejected_reason": object})
    )
    assert list(rejected["rejected_reason"]) == [
        "missing or non-finite: a, c",
        "missing or non-finite: b",
    ]


def test_select_anomalies_matches_the_sklearn_engine(spark):
    frame = _frame(np.arange(18, dtype="float64").reshape(6, 3))
    frame["prediction"] = np.array([1, -1, 1, 1, -1, -1], dtype="int64")
    frame["anomaly_score"] = np.array([0.5, -0.1, 0.2, 0.3, 0.0, -2.0])
    # Rows reach Spark out of time order, as they do from a folder of parts.
    shuffled = spark.createDataFrame(frame.iloc[[3, 5, 0, 4, 1, 2]])

    found = spark_engine.select_anomalies(shuffled, "time", COLUMNS, first_row=10)

    expected = sklearn_engine.select_anomalies(frame, "time", COLUMNS, first_row=10)
    pd.testing.assert_frame_equal(found, expected)
    assert list(found["row_number"]) == [11, 14, 15]


@contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Sets Spark SQL properties for the block, then restores them."""
    previous = {key: spark.conf.get(key) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)


def _scored_frame(n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = _frame(rng.normal(size=(n_rows, 3)))
    frame["prediction"] = np.where(rng.random(n_rows) < 0.3, -1, 1).astype("int64")
    frame["anomaly_score"] = rng.normal(size=n_rows)
    return frame


def _in_time_ranges(spark: SparkSession, frame: pd.DataFrame, n_parts: int):
    """``frame`` in ``n_parts`` partitions of consecutive rows, out of order within
    each, the layout of the part files Spark writes from a time-ordered table."""
    size = -(-len(frame) // n_parts)
    parts = [
        frame.iloc[start : start + size].sample(frac=1.0, random_state=start)
        for start in range(0, len(frame), size)
    ]
    rows = [tuple(row) for row in pd.concat(parts).itertuples(index=False)]
    schema = spark.createDataFrame(frame.head(1)).schema
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, n_parts), schema)


def test_select_anomalies_ranks_in_place_when_partitions_hold_separate_times(
    spark, caplog
):
    frame = _scored_frame(2_000, seed=3)

    with caplog.at_level(logging.DEBUG, logger=spark_engine.__name__):
        found = spark_engine.select_anomalies(
            _in_time_ranges(spark, frame, 4), "time", COLUMNS, first_row=7
        )

    expected = sklearn_engine.select_anomalies(frame, "time", COLUMNS, first_row=7)
    pd.testing.assert_frame_equal(found, expected)
    assert "in place, in 4 separate time ranges" in caplog.text


@pytest.mark.parametrize("time_ranges", [1, 5])
def test_select_anomalies_sorts_across_partitions_whose_times_overlap(
    spark, caplog, time_ranges
):
    frame = _scored_frame(2_000, seed=3)
    shuffled = spark.createDataFrame(frame.sample(frac=1.0, random_state=1))
    shuffled = shuffled.repartition(4)
    # The sort spreads the rows over `time_ranges` partitions (adaptive
    # execution would merge such small ones into one); each range's offset
    # must come out right.
    settings = {
        "spark.sql.shuffle.partitions": str(time_ranges),
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
    }
    with (
        _session_conf(spark, settings),
        caplog.at_level(logging.DEBUG, logger=spark_engine.__name__),
    ):
        ranges = shuffled.orderBy("time").select(F.spark_partition_id()).distinct()
        assert ranges.count() == time_ranges
        found = spark_engine.select_anomalies(shuffled, "time", COLUMNS, first_row=7)

    expected = sklearn_engine.select_anomalies(frame, "time", COLUMNS, first_row=7)
    pd.testing.assert_frame_equal(found, expected)
    assert "after a sort by time across partitions" in caplog.text


def test_select_anomalies_sorts_when_partitions_differ_between_reads(
    spark, monkeypatch, caplog
):
    frame = _scored_frame(600, seed=4)
    table = _in_time_ranges(spark, frame, 3)
    measure_ranges = spark_engine._partition_ranges

    def _ranges_of_other_partitions(table, time_column):
        # As if the second read had split the table otherwise.
        ranges = measure_ranges(table, time_column)
        ranges["partition"] = ranges["partition"].to_numpy()[::-1]
        return ranges

    monkeypatch.setattr(spark_engine, "_partition_ranges", _ranges_of_other_partitions)

    with caplog.at_level(logging.DEBUG, logger=spark_engine.__name__):
        found = spark_engine.select_anomalies(table, "time", COLUMNS)

    expected = sklearn_engine.select_anomalies(frame, "time", COLUMNS)
    pd.testing.assert_frame_equal(found, expected)
    assert "after a sort by time across partitions" in caplog.text


def test_select_anomalies_of_a_table_without_anomalies(spark):
    frame = _frame(np.ones((3, 3)))
    frame["prediction"] = np.ones(3, dtype="int64")
    frame["anomaly_score"] = np.full(3, 0.5)

    found = spark_engine.select_anomalies(spark.createDataFrame(frame), "time", COLUMNS)

    expected = sklearn_engine.select_anomalies(frame, "time", COLUMNS)
    pd.testing.assert_frame_equal(found, expected)
    assert found.empty


# ---- one step at a time, against scikit-learn --------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {"degree": 2},
        {"degree": 3},
        {"degree": 1},
        {"degree": 2, "include_bias": False},
        {"degree": 3, "interaction_only": True},
    ],
)
def test_polynomial_expansion_has_sklearn_columns_in_sklearn_order(spark, skewed, args):
    frame = _frame(skewed)
    chain = spark_engine.fit_chain(
        _to_spark(spark, frame), _chain({"PolynomialFeatures": args}), COLUMNS
    )

    expected = PolynomialFeatures(**args).fit_transform(skewed)
    table = spark_engine.transform_readings(_to_spark(spark, frame), chain)

    assert chain.n_features_out == expected.shape[1]
    np.testing.assert_array_equal(_features(table, chain.n_features_out), expected)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_quantile_transform_matches_sklearn_beyond_range_and_on_ties(
    spark, skewed, distribution
):
    args = {"n_quantiles": 25, "output_distribution": distribution}
    # Below the smallest and above the largest fitted value, on fitted values
    # (the tied column's 0..3), and between them.
    new_rows = np.array(
        [
            [skewed[:, 0].min() - 5.0, -1.0, 2.0],
            [skewed[:, 0].max() + 5.0, 4.0, 4.0],
            [skewed[3, 0], 1.0, skewed[5, 2]],
            [skewed[:, 0].mean(), 2.5, 3.0],
            [skewed[:, 0].min(), 0.0, skewed[:, 2].max()],
        ]
    )

    chain = spark_engine.fit_chain(
        _to_spark(spark, _frame(skewed)),
        _chain({"QuantileTransformer": args}),
        COLUMNS,
    )
    transformed = spark_engine.transform_readings(
        _to_spark(spark, _frame(new_rows), 2), chain
    )

    expected = QuantileTransformer(**args).fit(skewed)
    np.testing.assert_array_equal(
        chain.steps[0].state["quantiles"], expected.quantiles_
    )
    np.testing.assert_array_equal(
        chain.steps[0].state["references"], expected.references_
    )
    np.testing.assert_array_equal(
        _features(transformed, 3), expected.transform(new_rows)
    )


def test_quantile_transform_takes_n_quantiles_from_a_short_table(spark, skewed):
    # 40 rows and the default 1000 quantiles: scikit-learn falls back to 40.
    chain = spark_engine.fit_chain(
        _to_spark(spark, _frame(skewed)), _chain({"QuantileTransformer": {}}), COLUMNS
    )

    expected = QuantileTransformer(n_quantiles=40).fit(skewed)
    np.testing.assert_array_equal(
        chain.steps[0].state["quantiles"], expected.quantiles_
    )


def test_quantile_fit_on_a_sample_of_exactly_subsample_rows(spark):
    rng = np.random.default_rng(11)
    values = rng.normal(size=(600, 3))
    spark_frame = _to_spark(spark, _frame(values), 4)
    steps = _chain(
        {"QuantileTransformer": {"n_quantiles": 50, "subsample": 50, "random_state": 3}}
    )

    first = spark_engine.fit_chain(spark_frame, steps, COLUMNS)
    second = spark_engine.fit_chain(spark_frame, steps, COLUMNS)

    quantiles = np.asarray(first.steps[0].state["quantiles"])
    assert quantiles.shape == (50, 3)
    assert first.n_rows_fitted == 600
    # 50 quantiles of 50 rows are those rows, sorted: every one is a row of the
    # table, and no two are equal (a sample without replacement).
    for column in range(3):
        distances = np.abs(quantiles[:, column, None] - values[None, :, column])
        assert distances.min(axis=1).max() < 1e-12
        assert len(np.unique(quantiles[:, column])) == 50
    assert first.steps[0].state == second.steps[0].state


@pytest.mark.parametrize(
    ("with_mean", "with_std"),
    [(True, True), (False, True), (True, False), (False, False)],
)
def test_scaler_state_is_sklearn_population_statistics(
    spark, skewed, with_mean, with_std
):
    args = {"with_mean": with_mean, "with_std": with_std}
    # A constant column tests the "scale 1 for a constant feature" rule too.
    values = np.column_stack([skewed[:, :2], np.full(len(skewed), 2.5)])
    chain = spark_engine.fit_chain(
        _to_spark(spark, _frame(values), 4), _chain({"StandardScaler": args}), COLUMNS
    )
    state = chain.steps[0].state

    expected = StandardScaler(**args).fit(values)
    assert state["n_samples_seen"] == expected.n_samples_seen_ == len(values)
    for name in ("mean", "var", "scale"):
        fitted = getattr(expected, f"{name}_")
        if fitted is None:
            assert state[name] is None
        else:
            np.testing.assert_allclose(state[name], fitted, rtol=1e-13, atol=0)
    if with_std:
        np.testing.assert_allclose(state["var"], values.var(axis=0, ddof=0), rtol=1e-13)
        assert state["scale"][2] == 1.0


def test_scaler_merges_many_partitions_like_one_pass(spark):
    rng = np.random.default_rng(5)
    values = rng.normal(1e3, 2.0, size=(5_000, 3))
    steps = _chain({"StandardScaler": {}})

    one = spark_engine.fit_chain(_to_spark(spark, _frame(values), 1), steps, COLUMNS)
    many = spark_engine.fit_chain(_to_spark(spark, _frame(values), 7), steps, COLUMNS)

    expected = StandardScaler().fit(values)
    for chain in (one, many):
        np.testing.assert_allclose(
            chain.steps[0].state["mean"], expected.mean_, rtol=1e-14
        )
        np.testing.assert_allclose(
            chain.steps[0].state["var"], expected.var_, rtol=1e-12
        )


@pytest.mark.parametrize(
    "expansion",
    [
        None,
        {"degree": 2},
        {"degree": 2, "include_bias": False},
        {"degree": 2, "interaction_only": True},
        {"degree": 3},
    ],
)
def test_scaler_after_an_expansion_is_fitted_on_the_expanded_columns(
    spark, skewed, expansion
):
    # The moments of a scaler after a degree-2 expansion are summed from the
    # expansion's input; other chains go through the expanded table.
    spec = {"StandardScaler": {}}
    steps = parse_chain_spec(
        {"expand": {"PolynomialFeatures": expansion}, "scale": spec}
        if expansion
        else {"scale": spec}
    )
    chain = spark_engine.fit_chain(_to_spark(spark, _frame(skewed), 3), steps, COLUMNS)

    expanded = (
        PolynomialFeatures(**expansion).fit_transform(skewed) if expansion else skewed
    )
    expected = StandardScaler().fit(expanded)
    state = chain.steps[-1].state
    np.testing.assert_allclose(state["mean"], expected.mean_, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state["var"], expected.var_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["scale"], expected.scale_, rtol=1e-12)


# ---- the challenge's chain and model ------------------------------------------


def test_fitted_challenge_chain_matches_sklearn_engine(
    spark, challenge_readings, challenge_steps
):
    spark_chain = spark_engine.fit_chain(
        _to_spark(spark, challenge_readings), challenge_steps, CHALLENGE_COLUMNS
    )
    pandas_chain = sklearn_engine.fit_chain(
        challenge_readings, challenge_steps, CHALLENGE_COLUMNS
    )

    assert spark_chain.fitted_by == "sparkml"
    assert spark_chain.n_rows_fitted == pandas_chain.n_rows_fitted == 295
    assert [step.n_features_out for step in spark_chain.steps] == [10, 10, 66, 66]
    for ours, theirs in zip(spark_chain.steps, pandas_chain.steps, strict=True):
        assert ours.state.keys() == theirs.state.keys()
        for key, value in theirs.state.items():
            np.testing.assert_allclose(ours.state[key], value, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(
        spark_chain.steps[1].state["quantiles"],
        pandas_chain.steps[1].state["quantiles"],
    )


@pytest.mark.parametrize("fitted_by", ["sklearn", "sparkml"])
def test_chain_fitted_by_either_engine_scores_the_same_in_both(
    spark, challenge_dir, challenge_readings, challenge_steps, fitted_by
):
    if fitted_by == "sklearn":
        chain = sklearn_engine.fit_chain(
            challenge_readings, challenge_steps, CHALLENGE_COLUMNS
        )
    else:
        chain = spark_engine.fit_chain(
            _to_spark(spark, challenge_readings), challenge_steps, CHALLENGE_COLUMNS
        )
    # Through JSON, as the catalog stores it.
    chain = FittedChain.from_dict(pickle.loads(pickle.dumps(chain.to_dict())))
    with (challenge_dir / "model.pkl").open("rb") as stream:
        model = pickle.load(stream)

    pandas_scored = sklearn_engine.score_features(
        sklearn_engine.transform_readings(challenge_readings, chain), model, 66
    )
    spark_table = spark_engine.transform_readings(
        _to_spark(spark, challenge_readings), chain
    )
    spark_scored = (
        spark_engine.score_features(spark_table, model, 66)
        .toPandas()
        .sort_values("time")
        .reset_index(drop=True)
    )

    assert list(spark_scored.columns) == list(pandas_scored.columns)
    assert spark_scored["prediction"].dtype == np.int64
    np.testing.assert_array_equal(
        _features(spark_table, 66),
        sklearn_engine.transform_readings(challenge_readings, chain)[
            feature_names(66)
        ].to_numpy(),
    )
    # The features are bit-identical (above). The scores come from one matrix
    # product per batch, and BLAS may round a row differently when Spark's
    # partitions give another batch shape, so they agree to rounding: well
    # inside the project's 1e-9 bound, with every prediction the same.
    pd.testing.assert_frame_equal(
        spark_scored.drop(columns="anomaly_score"),
        pandas_scored.drop(columns="anomaly_score"),
        check_exact=True,
    )
    np.testing.assert_allclose(
        spark_scored["anomaly_score"],
        pandas_scored["anomaly_score"],
        rtol=0,
        atol=1e-12,
    )
    assert spark_engine.count_predictions(
        spark_engine.score_features(spark_table, model, 66)
    ) == {"rows": 295, "anomalies": 31, "inliers": 264}


def test_scoring_a_stored_model_input_table_gives_the_same_scores(
    spark, challenge_readings, challenge_steps, challenge_model
):
    chain = spark_engine.fit_chain(
        _to_spark(spark, challenge_readings), challenge_steps, CHALLENGE_COLUMNS
    )
    model_input = spark_engine.transform_readings(
        _to_spark(spark, challenge_readings), chain
    )
    # A table that transform_readings did not return in this process, such as
    # one read back from storage, is scored from its feature columns.
    stored = spark.createDataFrame(model_input.toPandas())

    in_one_pass = spark_engine.score_features(model_input, challenge_model, 66)
    from_features = spark_engine.score_features(stored, challenge_model, 66)

    assert in_one_pass.columns == from_features.columns
    pd.testing.assert_frame_equal(
        in_one_pass.toPandas().sort_values("time", ignore_index=True),
        from_features.toPandas().sort_values("time", ignore_index=True),
        check_exact=False,
        rtol=0,
        atol=1e-12,
    )


def test_executor_kernels_use_the_cores_of_their_task(spark):
    def _threads(batches):
        spark_engine._limit_threads_to_task()
        for _ in batches:
            pass
        yield pd.DataFrame({"threads": [numba.get_num_threads()]})

    threads = spark.range(4, numPartitions=2).mapInPandas(_threads, "threads long")

    # spark.task.cpus is 1 unless configured.
    assert [row["threads"] for row in threads.collect()] == [1, 1]
