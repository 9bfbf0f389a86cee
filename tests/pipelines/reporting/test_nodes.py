"""Tests of the reporting nodes."""

from __future__ import annotations

import pandas as pd
import pytest

from shape.pipelines.preprocessing.nodes import fit_reference_chain
from shape.pipelines.reporting.nodes import compute_metrics


def test_compute_metrics_counts_classes_and_keeps_durations(
    readings, preprocessing_params
):
    chain = fit_reference_chain(readings, preprocessing_params, "sklearn")
    predictions = readings.assign(
        prediction=[-1, 1, 1, 1] * 10, anomaly_score=[-0.5, 0.5, 0.1, 0.2] * 10
    )

    check = {"rows": 42, "invalid_rows": 2, "invalid_by_column": {"vibration_x": 2}}

    metrics = compute_metrics(
        predictions,
        check,
        chain,
        {"preprocessing": 1.25, "modelling": 0.5},
        "sklearn",
        "batch",
    )

    assert metrics == {
        "engine": "sklearn",
        "fit_on": "batch",
        "rows": 40,
        "rows_rejected": 2,
        "features_in": 3,
        "features_out": 66,
        "anomalies": 10,
        "inliers": 30,
        "anomaly_rate": pytest.approx(0.25),
        "stage_durations_s": {"preprocessing": 1.25, "modelling": 0.5},
    }


def test_compute_metrics_of_no_rows_has_a_zero_rate(readings, preprocessing_params):
    chain = fit_reference_chain(readings, preprocessing_params, "sklearn")
    empty = pd.DataFrame({"prediction": pd.Series([], dtype="int64")})

    check = {"rows": 0, "invalid_rows": 0, "invalid_by_column": {}}

    metrics = compute_metrics(empty, check, chain, {}, "sklearn", "reference")

    assert (metrics["rows"], metrics["anomalies"], metrics["anomaly_rate"]) == (0, 0, 0)
