"""Small hand-written frames and parameters for the node tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

FEATURES = ["vibration_x", "vibration_y", "vibration_z"]


@pytest.fixture
def preprocessing_params() -> dict:
    """The ``preprocessing`` parameters with the challenge's chain."""
    return {
        "time_column": "time",
        "feature_columns": list(FEATURES),
        "chain": {
            "reduce_dim": {"PolynomialFeatures": {"degree": 2}},
            "qtransf": {"QuantileTransformer": {"output_distribution": "normal"}},
            "poly_feature": {"PolynomialFeatures": {"degree": 2}},
            "stdscaler": {"StandardScaler": {"with_mean": True, "with_std": True}},
        },
    }


@pytest.fixture
def readings() -> pd.DataFrame:
    """Forty readings of three noisy periodic axes, one row per time step."""
    rng = np.random.default_rng(7)
    time = np.arange(40) * 0.1
    return pd.DataFrame(
        {
            "time": time,
            "vibration_x": 50 + 3 * np.sin(time) + rng.normal(0, 0.3, 40),
            "vibration_y": 86 + 2 * np.cos(time) + rng.normal(0, 0.3, 40),
            "vibration_z": 10 + rng.normal(0, 1.0, 40),
        }
    )
