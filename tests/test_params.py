"""Tests of the start-of-run parameter checks."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from shape.params import check_parameters
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def parameters() -> dict:
    """The project's parameters as resolved for a default run."""
    preprocessing = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_preprocessing.yml").read_text()
    )
    reporting = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_reporting.yml").read_text()
    )
    return {
        "engine": "sklearn",
        "fit_on": "batch",
        "input_path": "data/01_raw/readings.parquet",
        "modelling": {
            "model_sha256": "ab" * 32,  # any 64 hex digits pass the check
            "allow_sklearn_version_mismatch": False,
        },
        **preprocessing,
        **reporting,
    }


def test_default_parameters_pass_and_give_the_chain(parameters):
    steps = check_parameters(parameters)

    assert [step.transformer for step in steps] == [
        "PolynomialFeatures",
        "QuantileTransformer",
        "PolynomialFeatures",
        "StandardScaler",
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "engine",
            "spark",
            "Parameter 'engine' must be one of ['sklearn', 'sparkml']; got 'spark'",
        ),
        (
            "fit_on",
            "all",
            "Parameter 'fit_on' must be one of ['batch', 'reference']; got 'all'",
        ),
        (
            "preprocessing.feature_columns",
            ["vibration_x", "vibration_x"],
            "Parameter 'preprocessing.feature_columns' must be a non-empty list of "
            "distinct column names",
        ),
    ],
)
def test_bad_parameter_is_named_with_what_it_accepts(parameters, name, value, message):
    changed = copy.deepcopy(parameters)
    if "." in name:
        group, key = name.split(".")
        changed[group][key] = value
    else:
        changed[name] = value

    with pytest.raises(ValueError, match=re.escape(message)):
        check_parameters(changed)


@pytest.mark.parametrize(
    ("name", "value", "where"),
    [
        ("engine", "spark", "Set it in conf/base/globals.yml ('engine')"),
        ("fit_on", "all", "Set it in conf/base/parameters*.yml"),
    ],
)
def test_bad_parameter_message_names_the_file_that_sets_it(
    parameters, name, value, where
):
    parameters[name] = value

    with pytest.raises(ValueError, match=re.escape(where)):
        check_parameters(parameters)


def test_missing_parameter_is_named(parameters):
    del parameters["preprocessing"]["time_column"]

    with pytest.raises(ValueError, match=r"'preprocessing\.time_column' is missing"):
        check_parameters(parameters)


def test_bad_chain_step_is_named(parameters):
    parameters["preprocessing"]["chain"]["qtransf"] = {
        "QuantileTransformer": {"bins": 3}
    }

    with pytest.raises(ValueError, match=r"Step 'qtransf' \(QuantileTransformer\)"):
        check_parameters(parameters)
