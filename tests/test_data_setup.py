"""Tests of the set-up that places the run's inputs in data/."""

from __future__ import annotations

import json
import logging
import pickle

import pandas as pd
import yaml

from shape.data_setup import (
    CHALLENGE_FILES,
    REFERENCE_PATH,
    SYNTHETIC_GLOBALS,
    place_inputs,
)
from shape.datasets.verified_pickle_dataset import file_sha256
from tests.conftest import run_session

CHALLENGE_MODEL_SHA256 = (
    "a4d487175e686e33ef779732f1126b308304198edfca5b62b07a5ab7431c45bc"
)


def test_challenge_files_are_copied_in(tmp_path, challenge_dir):
    assert place_inputs(tmp_path, challenge_dir) == "challenge"

    copied = tmp_path / "data/06_models/model.pkl"
    assert copied.read_bytes() == (challenge_dir / "model.pkl").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "data/01_raw/reference_readings.parquet"),
        pd.read_parquet(challenge_dir / "dataset.parquet"),
    )


def test_without_challenge_files_a_synthetic_stand_in_is_written_and_scored(
    kedro_project, tmp_path, caplog
):
    for produced in (kedro_project / "data").rglob("*.*"):
        if produced.name != ".gitkeep":
            produced.unlink()
    empty = tmp_path / "no_challenge"
    empty.mkdir()

    with caplog.at_level(logging.INFO, logger="shape.data_setup"):
        assert place_inputs(kedro_project, empty) == "synthetic"
    run_session(kedro_project)

    assert [r.message for r in caplog.records if "synthetic stand-in" in r.message]
    readings = pd.read_parquet(kedro_project / "data/01_raw/readings.parquet")
    assert list(readings.columns) == [
        "time",
        "vibration_x",
        "vibration_y",
        "vibration_z",
    ]
    assert readings["time"].is_monotonic_increasing and readings["time"].is_unique
    with (kedro_project / "data/06_models/model.pkl").open("rb") as stream:
        assert pickle.load(stream).n_features_in_ == 66
    predictions = pd.read_parquet(
        kedro_project / "data/07_model_output/predictions.parquet"
    )
    assert len(predictions) == len(readings) == 2_000
    # nu=0.1 bounds the share of training rows flagged from above.
    assert 0 < (predictions["prediction"] == -1).mean() <= 0.12


def test_synthetic_stand_in_runs_and_challenge_files_restore_the_hash(
    kedro_project, challenge_dir, tmp_path
):
    project = kedro_project
    for target in [*CHALLENGE_FILES.values(), REFERENCE_PATH]:
        (project / target).unlink()

    assert place_inputs(project, tmp_path / "no-challenge-files") == "synthetic"

    model_hash = file_sha256(project / CHALLENGE_FILES["model.pkl"])
    recorded = yaml.safe_load((project / SYNTHETIC_GLOBALS).read_text())
    assert recorded == {"model_sha256": model_hash}
    assert model_hash != CHALLENGE_MODEL_SHA256
    run_session(project)
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert metrics["rows"] == 2000

    # With the challenge files back, the hash of conf/base/globals.yml applies.
    assert place_inputs(project, challenge_dir) == "challenge"
    assert not (project / SYNTHETIC_GLOBALS).exists()
    run_session(project)
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert (metrics["rows"], metrics["anomalies"]) == (295, 31)
