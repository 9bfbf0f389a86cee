"""Both engines' plot samples keep every anomaly and a bounded set of inliers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shape.engines import sklearn_engine, spark_sampling


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
