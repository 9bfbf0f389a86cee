"""Both engines' plot samples: bounded, the same rows every time.

The sklearn engine bounds each class itself, batch by batch; the Spark engine
bounds each class in Spark, so only the sample reaches the driver.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from shape.engines import sklearn_engine, spark_sampling
from shape.engines.batches import ReadingBatches
from shape.pipelines.reporting.nodes import sample_predictions_for_plots


def _predictions(rows: int, anomalies: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.01, 1.0, rows)
    scores[rng.choice(rows, anomalies, replace=False)] = -rng.uniform(0, 1, anomalies)
    return pd.DataFrame(
        {
            "time": np.arange(rows, dtype="float64"),
            "vibration_x": rng.normal(50, 5, rows),
            "prediction": np.where(scores > 0, 1, -1).astype("int64"),
            "anomaly_score": scores,
        }
    )


@pytest.mark.parametrize(
    ("max_inliers", "expected_inliers"), [(0, 0), (40, 40), (180, 180), (500, 180)]
)
def test_sklearn_sample_is_bounded_and_keeps_all_anomalies(
    max_inliers, expected_inliers
):
    table = _predictions(rows=200, anomalies=20)

    sample = sklearn_engine.sample_for_plots(table, max_inliers)

    assert (sample["prediction"] == 1).sum() == expected_inliers
    pd.testing.assert_frame_equal(
        sample[sample["prediction"] == -1].reset_index(drop=True),
        table[table["prediction"] == -1].reset_index(drop=True),
    )


def test_sklearn_sample_of_batches_equals_sample_of_the_table():
    table = _predictions(rows=3_000, anomalies=90)
    batches = np.array_split(np.arange(len(table)), 7)

    merged = pd.DataFrame(columns=table.columns).astype(table.dtypes)
    for positions in batches:
        batch_sample = sklearn_engine.sample_for_plots(table.iloc[positions], 250)
        merged = sklearn_engine.sample_for_plots(
            pd.concat([merged, batch_sample], ignore_index=True), 250
        )

    pd.testing.assert_frame_equal(merged, sklearn_engine.sample_for_plots(table, 250))


@pytest.mark.parametrize(
    ("max_anomalies", "expected_anomalies"), [(0, 0), (25, 25), (60, 60), (500, 60)]
)
def test_sklearn_sample_bounds_the_anomalies_too(max_anomalies, expected_anomalies):
    table = _predictions(rows=200, anomalies=60)

    sample = sklearn_engine.sample_for_plots(table, 40, max_anomalies)

    assert (sample["prediction"] == 1).sum() == 40
    assert (sample["prediction"] == -1).sum() == expected_anomalies
    # Rows of the table, in its order.
    assert sample["time"].is_monotonic_increasing
    assert set(sample["time"]) <= set(table["time"])


@pytest.mark.parametrize("batch_rows", [1, 97, 1_000, 5_000])
@pytest.mark.parametrize("max_anomalies", [0, 150, None])
def test_sklearn_sample_of_a_stream_equals_sample_of_the_table(
    batch_rows, max_anomalies
):
    table = _predictions(rows=3_000, anomalies=1_200)
    stream = ReadingBatches.from_frame(table, batch_rows=batch_rows)

    sample = sklearn_engine.sample_for_plots(stream, 250, max_anomalies)

    pd.testing.assert_frame_equal(
        sample, sklearn_engine.sample_for_plots(table, 250, max_anomalies)
    )


def _made_up_batches(n_batches: int, batch_rows: int) -> ReadingBatches:
    """Predictions with 40% anomalies, made batch by batch: never all in memory."""
    columns = ["time", "vibration_x", "prediction", "anomaly_score"]

    def batches(wanted: list[str] | None) -> Iterator[pd.DataFrame]:
        for index in range(n_batches):
            frame = _predictions(batch_rows, batch_rows * 2 // 5, seed=index)
            frame["time"] += index * batch_rows
            yield frame if wanted is None else frame[wanted]

    return ReadingBatches(batches, columns, description="made-up predictions")


def test_sklearn_sample_of_a_stream_needs_memory_for_the_sample_only():
    n_batches, batch_rows = 200, 5_000
    table_bytes = n_batches * batch_rows * 4 * 8

    tracemalloc.start()
    try:
        sample = sklearn_engine.sample_for_plots(
            _made_up_batches(n_batches, batch_rows), 100, 100
        )
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (sample["prediction"] == -1).sum() == 100
    assert (sample["prediction"] == 1).sum() == 100
    # The table is 32 MB, of which 12.8 MB anomalies; one batch is 160 kB.
    assert peak_bytes < table_bytes / 10


def test_sklearn_sample_is_the_same_on_every_call():
    table = _predictions(rows=1_000, anomalies=10)

    first = sklearn_engine.sample_for_plots(table, 100)
    second = sklearn_engine.sample_for_plots(table.copy(), 100)

    pd.testing.assert_frame_equal(first, second)


def test_spark_sample_is_bounded_and_keeps_all_anomalies(spark):
    table = _predictions(rows=2_000, anomalies=60)

    sample = spark_sampling.sample_for_plots(spark.createDataFrame(table), 300)

    assert isinstance(sample, pd.DataFrame)
    assert list(sample.columns) == list(table.columns)
    assert (sample["prediction"] == 1).sum() == 300
    anomalies = sample[sample["prediction"] == -1].sort_values("time")
    np.testing.assert_array_equal(
        anomalies["time"].to_numpy(),
        table.loc[table["prediction"] == -1, "time"].to_numpy(),
    )
    assert set(sample["time"]) <= set(table["time"])


def test_spark_sample_bounds_the_anomalies_in_spark(spark):
    table = _predictions(rows=2_000, anomalies=800)

    sample = spark_sampling.sample_for_plots(spark.createDataFrame(table), 300, 50)

    assert (sample["prediction"] == 1).sum() == 300
    assert (sample["prediction"] == -1).sum() == 50
    anomaly_times = set(table.loc[table["prediction"] == -1, "time"])
    assert set(sample.loc[sample["prediction"] == -1, "time"]) <= anomaly_times


def test_spark_sample_through_the_reporting_node_bounds_the_anomalies(spark):
    table = _predictions(rows=2_000, anomalies=800)
    reporting = {"max_plot_points": 300, "max_plot_anomalies": 50}

    sample = sample_predictions_for_plots(
        spark.createDataFrame(table), reporting, "sparkml"
    )

    assert isinstance(sample, pd.DataFrame)
    assert (sample["prediction"] == 1).sum() == 300
    assert (sample["prediction"] == -1).sum() == 50
    assert set(sample["time"]) <= set(table["time"])
    again = sample_predictions_for_plots(
        spark.createDataFrame(table), reporting, "sparkml"
    )
    pd.testing.assert_frame_equal(
        sample.sort_values("time", ignore_index=True),
        again.sort_values("time", ignore_index=True),
    )
