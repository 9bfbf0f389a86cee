"""The node that builds a run's database record, and its engine function."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from shape.engines import sklearn_engine
from shape.engines.batches import ReadingBatches
from shape.pipelines.reporting.nodes import build_run_record
from shape.run_record import RunContext, ScoringRun


@pytest.fixture
def predictions() -> pd.DataFrame:
    """Five scored readings; rows 1 and 4 are anomalies."""
    return pd.DataFrame(
        {
            "ts": [10.0, 10.5, 11.0, 11.5, 12.0],
            "vx": [0.1, 9.0, 0.2, 0.3, -7.5],
            "vy": [1.0, 1.5, 1.1, 0.9, 0.8],
            "prediction": [1, -1, 1, 1, -1],
            "anomaly_score": [0.4, -0.25, 0.1, 0.3, -1.5],
        }
    )


@pytest.fixture
def parameters() -> dict:
    return {
        "engine": "sklearn",
        "fit_on": "batch",
        "input_path": "data/01_raw/readings.parquet",
        "preprocessing": {"time_column": "ts", "feature_columns": ["vx", "vy"]},
        "modelling": {"model_sha256": "ff" * 32},
    }


@pytest.fixture
def run_context() -> RunContext:
    return RunContext(
        run_id="run-7",
        started_at=datetime(2026, 4, 12, 8, 0, tzinfo=UTC),
        finished_at=datetime(2026, 4, 12, 8, 2, tzinfo=UTC),
        mlflow_run_id="0123abcd",
    )


def test_select_anomalies_keeps_anomalous_rows_and_their_positions(predictions):
    anomalies = sklearn_engine.select_anomalies(predictions, "ts", ["vx", "vy"])

    expected = pd.DataFrame(
        {
            "row_number": np.array([1, 4], dtype="int64"),
            "time": [10.5, 12.0],
            "vx": [9.0, -7.5],
            "vy": [1.5, 0.8],
            "anomaly_score": [-0.25, -1.5],
        }
    )
    pd.testing.assert_frame_equal(anomalies, expected)


def test_select_anomalies_numbers_rows_from_the_batch_offset(predictions):
    batch = predictions.iloc[3:].reset_index(drop=True)

    anomalies = sklearn_engine.select_anomalies(batch, "ts", ["vx"], first_row=3)

    assert anomalies["row_number"].tolist() == [4]
    assert list(anomalies.columns) == ["row_number", "time", "vx", "anomaly_score"]


def test_select_anomalies_of_a_batch_without_any_is_empty(predictions):
    inliers = predictions[predictions["prediction"] == 1]

    anomalies = sklearn_engine.select_anomalies(inliers, "ts", ["vx", "vy"])

    assert anomalies.empty
    assert anomalies["row_number"].dtype == np.int64


def test_build_run_record(predictions, parameters, run_context):
    metrics = {"rows": 5, "anomalies": 2, "anomaly_rate": 0.4}
    original = predictions.copy()

    record = build_run_record(predictions, metrics, run_context, parameters)

    assert isinstance(record, ScoringRun)
    assert record.summary == {
        "run_id": "run-7",
        "started_at": datetime(2026, 4, 12, 8, 0, tzinfo=UTC),
        "finished_at": datetime(2026, 4, 12, 8, 2, tzinfo=UTC),
        "status": "succeeded",
        "engine": "sklearn",
        "fit_on": "batch",
        "input_path": "data/01_raw/readings.parquet",
        "model_sha256": "ff" * 32,
        "rows": 5,
        "anomalies": 2,
        "anomaly_rate": 0.4,
        "mlflow_run_id": "0123abcd",
        "parameters": parameters,
    }
    assert record.anomalies["row_number"].tolist() == [1, 4]
    assert record.feature_columns == ["vx", "vy"]
    pd.testing.assert_frame_equal(predictions, original)


def test_build_run_record_of_a_stream_leaves_the_anomalies_unread(
    predictions, parameters, run_context
):
    metrics = {"rows": 5, "anomalies": 2, "anomaly_rate": 0.4}
    batches_read: list[int] = []

    def batches(columns: list[str] | None) -> Iterator[pd.DataFrame]:
        for start in range(0, len(predictions), 2):
            batches_read.append(start)
            batch = predictions.iloc[start : start + 2]
            yield batch if columns is None else batch[columns]

    stream = ReadingBatches(batches, list(predictions.columns), "counted")

    record = build_run_record(stream, metrics, run_context, parameters)

    assert isinstance(record.anomalies, ReadingBatches)
    assert batches_read == []
    assert record.feature_columns == ["vx", "vy"]
    pd.testing.assert_frame_equal(
        record.anomalies_to_pandas(),
        sklearn_engine.select_anomalies(predictions, "ts", ["vx", "vy"]),
    )
    assert batches_read == [0, 2, 4]


def test_build_run_record_without_the_hook_says_so(predictions, parameters):
    metrics = {"rows": 5, "anomalies": 2, "anomaly_rate": 0.4}

    with pytest.raises(ValueError, match="RunContextHook"):
        build_run_record(predictions, metrics, {}, parameters)
