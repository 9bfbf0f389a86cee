"""Tests of the start-of-run parameter checks."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from shape.params import check_parameters, check_runtime_names
from tests.conftest import PROJECT_ROOT, run_session


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


def test_the_time_column_may_not_be_a_feature_column(parameters):
    parameters["preprocessing"]["time_column"] = "vibration_x"

    with pytest.raises(
        ValueError, match=r"'preprocessing.time_column' \('vibration_x'\)"
    ):
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


GLOBALS_FILE = PROJECT_ROOT / "conf/base/globals.yml"
GLOBAL_NAMES = list(yaml.safe_load(GLOBALS_FILE.read_text()))


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ({"engin": "sparkml"}, "Unknown parameter 'engin' in --params: no "),
        ({"engin": "sparkml"}, "Did you mean 'engine'?"),
        (
            {"preprocessing": {"invalid_row": "drop"}},
            "Unknown parameter 'preprocessing.invalid_row'",
        ),
        ({"preprocessing": {"invalid_row": "drop"}}, "'preprocessing.invalid_rows'"),
        ({"model_sha": "ab" * 32}, "Did you mean 'model_sha256'?"),
    ],
)
def test_a_misspelt_runtime_parameter_is_named_with_the_closest_names(
    parameters, runtime, message
):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_runtime_names(runtime, parameters, GLOBAL_NAMES)


def test_every_runtime_name_the_project_reads_is_accepted(parameters):
    check_runtime_names(
        {
            "engine": "sparkml",
            "batch_rows": 50,
            "reference_path": "x.parquet",
            "model_sha256": "ab" * 32,
            "run_id": "nightly",
            "spark_master": "spark://127.0.0.1:7077",
            "modelling": {"model_sha256": "ab" * 32},
            # Below two levels, the chain spec's own checks apply.
            "preprocessing": {"chain": {"qtransf": {"QuantileTransformer": {}}}},
        },
        parameters,
        GLOBAL_NAMES,
    )


def test_a_run_with_a_misspelt_parameter_stops_before_any_node(kedro_project):
    with pytest.raises(ValueError, match="Did you mean 'engine'"):
        run_session(kedro_project, runtime_params={"engin": "sparkml"})

    assert not (kedro_project / "data/07_model_output/predictions.parquet").exists()


@pytest.mark.parametrize(
    "runtime",
    [{"model_sha256": "ab" * 32}, {"modelling": {"model_sha256": "ab" * 32}}],
)
def test_the_model_hash_can_be_set_for_one_run_by_either_name(kedro_project, runtime):
    with pytest.raises(Exception, match="but the run expects " + "ab" * 32):
        run_session(kedro_project, runtime_params=runtime)
