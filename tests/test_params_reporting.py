"""The ``reporting`` parameters are checked before a run starts."""

from __future__ import annotations

import copy

import pytest
from kedro.config import OmegaConfigLoader

from shape.params import check_parameters
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def parameters() -> dict:
    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local"
    )
    return loader["parameters"]


def test_project_defaults_pass(parameters):
    assert parameters["reporting"] == {
        "max_plot_points": 5000,
        "max_plot_anomalies": 5000,
        "histogram_bins": 40,
    }
    check_parameters(parameters)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_plot_points", -1),
        ("max_plot_points", 10.5),
        ("max_plot_points", True),
        ("max_plot_anomalies", -1),
        ("max_plot_anomalies", 2.5),
        ("max_plot_anomalies", None),
        ("histogram_bins", 0),
        ("histogram_bins", "40"),
    ],
)
def test_bad_reporting_value_is_named(parameters, key, value):
    bad = copy.deepcopy(parameters)
    bad["reporting"][key] = value

    with pytest.raises(ValueError, match=rf"Parameter 'reporting\.{key}' must be"):
        check_parameters(bad)


def test_missing_anomaly_bound_is_named(parameters):
    bad = copy.deepcopy(parameters)
    del bad["reporting"]["max_plot_anomalies"]

    with pytest.raises(
        ValueError, match=r"Parameter 'reporting\.max_plot_anomalies' is missing"
    ):
        check_parameters(bad)
