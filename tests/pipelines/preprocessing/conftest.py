"""Small reading tables and parameters for the preprocessing node tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

FEATURES = ["vibration_x", "vibration_y", "vibration_z"]


@pytest.fixture
def preprocessing() -> dict[str, Any]:
    """The ``preprocessing`` parameters, failing on invalid rows."""
    return {
        "time_column": "time",
        "feature_columns": list(FEATURES),
        "invalid_rows": "fail",
    }


@pytest.fixture
def raw_readings() -> pd.DataFrame:
    """Five readings: one with a null, one with +inf, one with -inf and a null."""
    return pd.DataFrame(
        {
            "time": [0.1, 0.2, 0.3, 0.4, 0.5],
            "vibration_x": [1.0, np.nan, 3.0, 4.0, -np.inf],
            "vibration_y": [10.0, 20.0, np.inf, 40.0, 50.0],
            "vibration_z": [0.5, 0.6, 0.7, 0.8, np.nan],
            "sensor": ["a", "b", "c", "d", "e"],
        }
    )
