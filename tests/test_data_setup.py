"""Tests of the set-up that places the run's inputs in data/."""

from __future__ import annotations

import logging
import pickle

import pandas as pd

from shape.data_setup import place_inputs
from tests.conftest import run_session


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
