"""Small hand-made predictions for the reporting nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def predictions() -> pd.DataFrame:
    """Twelve scored readings, out of time order; rows 2, 5 and 9 are anomalies.

    Row 9 scores exactly 0, which the model counts as an anomaly.
    """
    times = np.array([5.0, 1.0, 3.0, 0.5, 7.0, 2.0, 4.0, 6.0, 0.0, 2.5, 8.0, 9.0])
    scores = np.array([0.4, 0.8, -0.6, 0.1, 0.3, -1.2, 0.9, 0.05, 0.7, 0.0, 0.2, 0.6])
    return pd.DataFrame(
        {
            "time": times,
            "vibration_x": 10.0 + times,
            "vibration_y": 20.0 - 2 * times,
            "vibration_z": np.sin(times),
            "prediction": np.where(scores > 0, 1, -1).astype("int64"),
            "anomaly_score": scores,
        }
    )


@pytest.fixture
def reporting_params() -> dict:
    return {"max_plot_points": 5000, "max_plot_anomalies": 5000, "histogram_bins": 10}
