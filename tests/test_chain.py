"""Tests of the chain spec reader and checks, and of the fitted chain's storage."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from shape.chain import (
    ChainStep,
    check_chain_matches_spec,
    parse_chain_spec,
    read_jsonc_steps,
)
from shape.engines import sklearn_engine
from tests.conftest import PROJECT_ROOT

CHALLENGE_STEPS = [
    ChainStep(
        "reduce_dim",
        "PolynomialFeatures",
        {"degree": 2, "interaction_only": False, "include_bias": True},
    ),
    ChainStep(
        "qtransf",
        "QuantileTransformer",
        {
            "n_quantiles": 1000,
            "output_distribution": "normal",
            "subsample": 10_000,
            "random_state": None,
        },
    ),
    ChainStep(
        "poly_feature",
        "PolynomialFeatures",
        {"degree": 2, "interaction_only": False, "include_bias": True},
    ),
    ChainStep("stdscaler", "StandardScaler", {"with_mean": True, "with_std": True}),
]


def test_challenge_jsonc_file_parses_to_the_challenge_chain(challenge_dir):
    assert parse_chain_spec(challenge_dir / "pipeline.jsonc") == CHALLENGE_STEPS


def test_yaml_parameters_hold_the_same_chain_as_the_jsonc_file(challenge_dir):
    parameters = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_preprocessing.yml").read_text()
    )
    from_yaml = parse_chain_spec(parameters["preprocessing"]["chain"])

    assert from_yaml == parse_chain_spec(str(challenge_dir / "pipeline.jsonc"))


def test_jsonc_reader_keeps_slashes_inside_strings(tmp_path):
    spec = tmp_path / "spec.jsonc"
    spec.write_text(
        '// header\n{"steps": {"model": "http://host/model.pkl", // trailing\n'
        '"a": {"StandardScaler": {}}}}\n'
    )

    assert read_jsonc_steps(spec) == {
        "model": "http://host/model.pkl",
        "a": {"StandardScaler": {}},
    }


def test_jsonc_reader_names_the_file_and_line_of_a_syntax_error(tmp_path):
    spec = tmp_path / "broken.jsonc"
    spec.write_text('// header\n{"steps": {\n  "a": {"StandardScaler": {}},,\n}}\n')

    with pytest.raises(ValueError, match=r"broken.jsonc' is not valid JSON.*line 3"):
        read_jsonc_steps(spec)


def test_jsonc_reader_requires_a_steps_object(tmp_path):
    spec = tmp_path / "no_steps.jsonc"
    spec.write_text(json.dumps({"stages": {}}))

    with pytest.raises(ValueError, match=r"must hold an object with a 'steps' object"):
        read_jsonc_steps(spec)


def test_jsonc_reader_refuses_a_key_given_twice(tmp_path):
    spec = tmp_path / "twice.jsonc"
    spec.write_text(
        '{"steps": {"a": {"PolynomialFeatures": {"degree": 3}},\n'
        '"b": {"StandardScaler": {}},\n'
        '"a": {"PolynomialFeatures": {"degree": 2}}}}\n'
    )

    with pytest.raises(
        ValueError, match=r"twice.jsonc' has the key\(s\) \['a'\] twice"
    ):
        read_jsonc_steps(spec)


def test_jsonc_reader_names_a_file_that_is_not_utf8(tmp_path):
    spec = tmp_path / "latin1.jsonc"
    spec.write_bytes(
        '// r\xe9glage\n{"steps": {"a": {"StandardScaler": {}}}}'.encode("latin-1")
    )

    with pytest.raises(ValueError, match=r"latin1.jsonc' is not UTF-8 text"):
        read_jsonc_steps(spec)


def test_missing_spec_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonc' does not exist"):
        parse_chain_spec(tmp_path / "nowhere.jsonc")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"scale": {"RobustScaler": {}}},
            "Step 'scale' of the chain spec uses transformer 'RobustScaler', which "
            "is not supported; expected one of ['PolynomialFeatures', "
            "'QuantileTransformer', 'StandardScaler']",
        ),
        (
            {"poly": {"PolynomialFeatures": {"degree": 2, "order": "F"}}},
            "Step 'poly' (PolynomialFeatures) of the chain spec has unknown "
            "argument(s) ['order']",
        ),
        (
            {"poly": {"PolynomialFeatures": {"degree": "2"}}},
            "argument 'degree' must be an integer from 1 to 4; got '2'",
        ),
        (
            {"q": {"QuantileTransformer": {"output_distribution": "gaussian"}}},
            "Step 'q' (QuantileTransformer) of the chain spec: argument "
            "'output_distribution' must be 'uniform' or 'normal'; got 'gaussian'",
        ),
        (
            {"s": {"StandardScaler": {"with_mean": "yes"}}},
            "argument 'with_mean' must be true or false; got 'yes'",
        ),
        (
            {"model": "model.pkl", "s": {"StandardScaler": {}}},
            "Step 'model' of the chain spec must come last, after every "
            "transformer; found step 's' after it",
        ),
        (
            {"s": {"StandardScaler": {}, "PolynomialFeatures": {}}},
            "Step 's' of the chain spec must be a mapping with exactly one "
            "transformer name",
        ),
        (
            {"q": {"QuantileTransformer": {"n_quantiles": 100, "subsample": 50}}},
            "Step 'q' (QuantileTransformer) of the chain spec: 'subsample' (50) "
            "must be at least 'n_quantiles' (100)",
        ),
        ({}, "must be a non-empty mapping"),
        ({"model": "model.pkl"}, "has no transformer steps"),
    ],
)
def test_invalid_spec_is_rejected_with_the_step_named(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_chain_spec(spec)


def test_model_entry_is_ignored_when_last(challenge_dir):
    steps = read_jsonc_steps(challenge_dir / "pipeline.jsonc")
    assert list(steps)[-1] == "model"

    assert [step.name for step in parse_chain_spec(steps)] == [
        "reduce_dim",
        "qtransf",
        "poly_feature",
        "stdscaler",
    ]


def test_stored_chain_from_another_spec_is_refused(readings_chain):
    shorter = CHALLENGE_STEPS[:3]

    with pytest.raises(ValueError, match="has 4 steps but the chain spec has 3"):
        check_chain_matches_spec(readings_chain, shorter)


@pytest.fixture
def readings_chain(challenge_dir):
    readings = pd.read_parquet(challenge_dir / "dataset.parquet")
    return sklearn_engine.fit_chain(
        readings, CHALLENGE_STEPS, ["vibration_x", "vibration_y", "vibration_z"]
    )
