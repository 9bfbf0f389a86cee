"""Every bad input ends in a clear error, and the previous run's outputs survive.

Each case breaks a project that has just completed a good run, runs it again,
and checks the error's type and text and that every output file (layers 02 to
08 and the fitted chain) is byte for byte what the good run wrote. Most cases
run in-process through ``KedroSession``; ``test_cli_*`` run the real ``kedro``
command for a representative few, including one killed mid-way.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError
from sklearn.svm import OneClassSVM

from shape.datasets.verified_pickle_dataset import file_sha256
from shape.synthetic import write_readings
from tests.conftest import run_kedro_cli, run_session
from tests.datasets.conftest import pickle_from_other_sklearn, write_pickle

RAW = Path("data/01_raw/readings.parquet")
MODEL = Path("data/06_models/model.pkl")
PREDICTIONS = Path("data/07_model_output/predictions.parquet")
METRICS = Path("data/08_reporting/metrics.json")
REJECTED = Path("data/08_reporting/rejected_readings.parquet")
FEATURES = ["vibration_x", "vibration_y", "vibration_z"]

# Kedro makes catalog paths absolute in-process; the messages end with these.
_NAMED_RAW = rf"'[^']*{re.escape(str(RAW))}'"
_NAMED_MODEL = rf"'[^']*{re.escape(str(MODEL))}'"


def _outputs(project: Path) -> dict[str, bytes]:
    """Every file a run writes, by path: layers 02 to 08, inputs left out."""
    files = {}
    for path in sorted((project / "data").rglob("*")):
        relative = path.relative_to(project)
        if (
            path.is_file()
            and path.name != ".gitkeep"
            and relative.parts[1] != "01_raw"
            and relative != MODEL
        ):
            files[str(relative)] = path.read_bytes()
    return files


@pytest.fixture
def scored_project(kedro_project: Path) -> tuple[Path, dict[str, bytes]]:
    """A project after a good run, and the files that run wrote."""
    run_session(kedro_project)
    outputs = _outputs(kedro_project)
    assert {str(PREDICTIONS), str(METRICS), str(REJECTED)} <= set(outputs)
    return kedro_project, outputs


def _rewrite_raw(project: Path, change: Callable[[pd.DataFrame], pd.DataFrame]):
    readings = pd.read_parquet(project / RAW)
    change(readings).to_parquet(project / RAW, index=False)


def _with_invalid_values(readings: pd.DataFrame) -> pd.DataFrame:
    readings = readings.copy()
    readings.loc[[0, 1, 2], "vibration_x"] = np.nan
    readings.loc[[2, 7], "vibration_z"] = np.inf
    return readings


# ---- the cases: each breaks the project and returns the run's parameters ----


def _missing_column(project: Path) -> dict:
    _rewrite_raw(project, lambda frame: frame.drop(columns=["vibration_y"]))
    return {}


def _invalid_values(project: Path) -> dict:
    _rewrite_raw(project, _with_invalid_values)
    return {}


def _empty_table(project: Path) -> dict:
    _rewrite_raw(project, lambda frame: frame.iloc[:0])
    return {}


def _every_row_invalid(project: Path) -> dict:
    _rewrite_raw(project, lambda frame: frame.assign(vibration_y=np.nan))
    return {"preprocessing": {"invalid_rows": "drop"}}


def _text_column(project: Path) -> dict:
    _rewrite_raw(project, lambda frame: frame.assign(vibration_z="12.5"))
    return {}


def _csv_named_parquet(project: Path) -> dict:
    pd.read_parquet(project / RAW).to_csv(project / RAW, index=False)
    return {}


def _truncated_parquet(project: Path) -> dict:
    whole = (project / RAW).read_bytes()
    (project / RAW).write_bytes(whole[: len(whole) - 100])
    return {}


def _empty_folder(project: Path) -> dict:
    folder = project / "data/01_raw/batch"
    folder.mkdir()
    (folder / "_SUCCESS").write_text("")
    return {"input_path": "data/01_raw/batch"}


def _model_missing(project: Path) -> dict:
    (project / MODEL).unlink()
    return {}


def _model_without_predict(project: Path) -> dict:
    digest = write_pickle(project / MODEL, pickle.dumps({"coef": [1.0, 2.0]}))
    return {"modelling": {"model_sha256": digest}}


def _model_of_other_width(project: Path) -> dict:
    features = np.random.default_rng(0).normal(size=(50, 10))
    model = OneClassSVM(gamma="auto").fit(features)
    digest = write_pickle(project / MODEL, pickle.dumps(model))
    return {"modelling": {"model_sha256": digest}}


def _model_replaced(project: Path) -> dict:
    features = np.random.default_rng(0).normal(size=(50, 66))
    write_pickle(project / MODEL, pickle.dumps(OneClassSVM().fit(features)))
    return {}


def _model_from_other_sklearn(project: Path) -> dict:
    model = pickle.loads((project / MODEL).read_bytes())
    digest = write_pickle(project / MODEL, pickle_from_other_sklearn(model))
    return {"modelling": {"model_sha256": digest}}


def _without_data(project: Path) -> None:
    # With neither the table nor the model on disk, any attempt to read data
    # would fail with a DatasetError instead of the expected message.
    (project / RAW).unlink()
    (project / MODEL).unlink()


def _unknown_step(project: Path) -> dict:
    _without_data(project)
    return {"preprocessing": {"chain": {"pca": {"PCA": {"n_components": 2}}}}}


def _unknown_argument(project: Path) -> dict:
    _without_data(project)
    chain = {"qtransf": {"QuantileTransformer": {"n_quantile": 10}}}
    return {"preprocessing": {"chain": chain}}


def _argument_of_wrong_type(project: Path) -> dict:
    _without_data(project)
    return {
        "preprocessing": {
            "chain": {"reduce_dim": {"PolynomialFeatures": {"degree": "2"}}}
        }
    }


def _unknown_invalid_rows_mode(project: Path) -> dict:
    _without_data(project)
    return {"preprocessing": {"invalid_rows": "skip"}}


def _malformed_model_hash(project: Path) -> dict:
    _without_data(project)
    return {"modelling": {"model_sha256": "a4d4871"}}


CASES = {
    "missing column": (
        _missing_column,
        KeyError,
        r"lacks required column\(s\) \['vibration_y'\]; it has \['time', "
        r"'vibration_x', 'vibration_z'\]",
    ),
    "null and inf values": (
        _invalid_values,
        ValueError,
        r"4 of 295 rows have a missing or non-finite feature value; invalid values "
        r"per column: \{'vibration_x': 3, 'vibration_z': 2\}",
    ),
    "empty table": (_empty_table, ValueError, "has no rows; there is nothing to"),
    "every row invalid": (
        _every_row_invalid,
        ValueError,
        r"295 of 295 rows .* With every row invalid there is nothing to score",
    ),
    "text column": (
        _text_column,
        TypeError,
        r"Column 'vibration_z' must hold numbers \(float or integer\); found "
        r"dtype object",
    ),
    "csv named .parquet": (
        _csv_named_parquet,
        DatasetError,
        rf"raw_readings: File {_NAMED_RAW} is not a Parquet file: .* starts "
        r"with b'time'",
    ),
    "truncated parquet": (
        _truncated_parquet,
        DatasetError,
        rf"raw_readings: Parquet file {_NAMED_RAW} is truncated",
    ),
    "folder without parquet": (
        _empty_folder,
        DatasetError,
        r"Parquet input folder '[^']*data/01_raw/batch' holds no Parquet files",
    ),
    "model missing": (
        _model_missing,
        DatasetError,
        rf"anomaly_model: Model file {_NAMED_MODEL} does not exist",
    ),
    "model without predict": (
        _model_without_predict,
        TypeError,
        r"The anomaly model \(dict\) has no decision_function or predict",
    ),
    "model of another width": (
        _model_of_other_width,
        ValueError,
        r"expects 10 input features but the chain produces 66",
    ),
    "model replaced": (
        _model_replaced,
        DatasetError,
        rf"Model file {_NAMED_MODEL} has SHA-256 [0-9a-f]{{64}}, but the run expects "
        r"a4d487175e686e33ef779732f1126b308304198edfca5b62b07a5ab7431c45bc .*"
        r"not unpickled",
    ),
    "model from another scikit-learn": (
        _model_from_other_sklearn,
        DatasetError,
        r"holds a OneClassSVM pickled by scikit-learn 0\.0\.1, but this "
        r"environment has scikit-learn 1\.6\.1",
    ),
    "unknown step": (
        _unknown_step,
        ValueError,
        r"Step 'pca' of the chain spec uses transformer 'PCA', which is not "
        r"supported",
    ),
    "unknown argument": (
        _unknown_argument,
        ValueError,
        r"Step 'qtransf' \(QuantileTransformer\) of the chain spec has unknown "
        r"argument\(s\) \['n_quantile'\]",
    ),
    "argument of wrong type": (
        _argument_of_wrong_type,
        ValueError,
        r"argument 'degree' must be an integer from 1 to 4; got '2'",
    ),
    "malformed model hash": (
        _malformed_model_hash,
        ValueError,
        r"Parameter 'modelling.model_sha256' must be the SHA-256 of the model "
        r"file, 64 lower-case hexadecimal digits .*; got 'a4d4871'",
    ),
    "unknown invalid_rows mode": (
        _unknown_invalid_rows_mode,
        ValueError,
        r"Parameter 'preprocessing.invalid_rows' must be one of \['fail', "
        r"'drop'\]; got 'skip'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_clearly_and_keeps_outputs(scored_project, case):
    project, before = scored_project
    breaker, error, message = CASES[case]
    runtime_params = breaker(project)

    with pytest.raises(error, match=message):
        run_session(project, runtime_params=runtime_params)

    assert _outputs(project) == before
    assert not list((project / "data").rglob("*.partial"))


def test_invalid_rows_dropped_are_reported(scored_project):
    project, _ = scored_project
    _rewrite_raw(project, _with_invalid_values)

    run_session(project, runtime_params={"preprocessing": {"invalid_rows": "drop"}})

    rejected = pd.read_parquet(project / REJECTED)
    assert rejected["rejected_reason"].tolist() == [
        "missing or non-finite: vibration_x",
        "missing or non-finite: vibration_x",
        "missing or non-finite: vibration_x, vibration_z",
        "missing or non-finite: vibration_z",
    ]
    readings = pd.read_parquet(project / RAW)
    np.testing.assert_array_equal(rejected["time"], readings["time"].iloc[[0, 1, 2, 7]])
    predictions = pd.read_parquet(project / PREDICTIONS)
    assert len(predictions) == 291
    assert not set(predictions["time"]) & set(rejected["time"])
    metrics = json.loads((project / METRICS).read_text())
    assert (metrics["rows"], metrics["rows_rejected"]) == (291, 4)


def test_other_sklearn_version_runs_when_allowed_knowingly(scored_project):
    project, before = scored_project
    runtime_params = _model_from_other_sklearn(project)
    runtime_params["modelling"]["allow_sklearn_version_mismatch"] = True

    run_session(project, runtime_params=runtime_params)

    # The model's numbers are the challenge's, so the scores are unchanged.
    after = pd.read_parquet(project / PREDICTIONS)
    pd.testing.assert_frame_equal(after, pd.read_parquet(_as_file(project, before)))


def _as_file(project: Path, outputs: dict[str, bytes]) -> Path:
    path = project / "previous_predictions.parquet"
    path.write_bytes(outputs[str(PREDICTIONS)])
    return path


# ---- the real `kedro` command ----------------------------------------------


def test_cli_replaced_model_is_not_unpickled(scored_project):
    project, before = scored_project
    _model_replaced(project)
    found = file_sha256(project / MODEL)

    result = run_kedro_cli(project, "run")

    assert result.returncode == 1
    assert re.search(rf"Model file {_NAMED_MODEL} has SHA-256 {found}", result.stderr)
    assert f"set model_sha256: {found} in globals.yml" in result.stderr
    assert _outputs(project) == before


def test_cli_bad_spec_is_refused_before_reading_data(scored_project):
    project, before = scored_project
    _without_data(project)

    result = run_kedro_cli(
        project,
        "run",
        "--params=preprocessing.chain.qtransf.QuantileTransformer.n_quantile=10",
    )

    assert result.returncode == 1
    assert (
        "ValueError: Step 'qtransf' (QuantileTransformer) of the chain spec has "
        "unknown argument(s) ['n_quantile']" in result.stderr
    )
    assert "DatasetError" not in result.stderr
    assert _outputs(project) == before


def test_cli_run_killed_mid_way_leaves_previous_outputs(scored_project):
    project, before = scored_project
    big = project / "data/01_raw/big.parquet"
    write_readings(big, 50_000, source=pd.read_parquet(project / RAW))
    command = [str(Path(sys.executable).with_name("kedro")), "run"]
    command.append("--params=input_path=data/01_raw/big.parquet")

    run = subprocess.Popen(
        command,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = []
    try:
        for line in run.stdout:
            log.append(line)
            if "Running node: score_readings" in line:
                os.kill(run.pid, signal.SIGKILL)
                break
    finally:
        run.stdout.close()
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "".join(log[-20:])

    # What the killed run was writing is not there; the old results are.
    for output in (PREDICTIONS, METRICS, REJECTED):
        assert (project / output).read_bytes() == before[str(output)], output
    model_output = project / PREDICTIONS.parent
    assert [path.name for path in model_output.glob("*.parquet")] == [PREDICTIONS.name]

    # The next run starts from scratch and completes.
    result = run_kedro_cli(
        project, "run", "--params=input_path=data/01_raw/big.parquet"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(pd.read_parquet(project / PREDICTIONS)) == 50_000
    assert json.loads((project / METRICS).read_text())["rows"] == 50_000
    assert not list((project / "data").rglob("*.partial"))
