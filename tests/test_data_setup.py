"""Set-up without the challenge files: the stand-in model's hash is recorded."""

from __future__ import annotations

import json

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
