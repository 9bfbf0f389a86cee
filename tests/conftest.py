"""Fixtures shared by the whole suite: challenge files and throw-away projects.

``kedro_project`` copies this project's ``conf/`` into a temporary folder with its
own ``data/`` and makes it the working directory, so a test can run the real
pipelines, with the real catalog, without touching the developer's ``data/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from shape.data_setup import default_challenge_dir, place_inputs

# Fixtures that start real servers for the tests that need them.
pytest_plugins = ("tests.postgres",)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHALLENGE_FILES = (
    "dataset.parquet",
    "model.pkl",
    "pipeline.jsonc",
    "expected_predictions.csv",
)

# No test may reach the network; kedro-telemetry would try to.
os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
# Tests start their own Kafka broker and MLflow store; a developer's settings
# must not send the events or records of test runs anywhere else.
for _name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "MLFLOW_TRACKING_URI"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _no_tracking_uri_from_earlier_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without ``MLFLOW_TRACKING_URI``.

    ``mlflow.set_tracking_uri``, which kedro-mlflow calls on every run, also
    writes the variable, so without this every later run in the process would
    be tracked in the store of the first test's temporary project.
    """
    # setenv first, so that the teardown removes whatever a run writes.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


@pytest.fixture(scope="session")
def challenge_dir() -> Path:
    """The folder of the real challenge files (``../shared/data``).

    The suite needs them for its golden comparisons; their absence is a failure,
    not a skip, so that a CI run without them cannot pass unnoticed.
    """
    folder = default_challenge_dir(PROJECT_ROOT)
    missing = [name for name in CHALLENGE_FILES if not (folder / name).is_file()]
    if missing:
        pytest.fail(f"Challenge files {missing} not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def expected_predictions(challenge_dir: Path) -> pd.DataFrame:
    """The challenge's truth: row, time, prediction, decision_function."""
    return pd.read_csv(
        challenge_dir / "expected_predictions.csv", float_precision="round_trip"
    )


@pytest.fixture
def kedro_project(
    tmp_path: Path, challenge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A copy of this project's configuration with the challenge inputs placed.

    The working directory is the copy for the length of the test, as it is for
    ``kedro run``: the catalog's relative paths land in the copy's ``data/``.
    """
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / ".telemetry", project / ".telemetry")
    # Kedro checks that a source folder exists; the package itself is installed.
    (project / "src").mkdir()
    for layer in (PROJECT_ROOT / "data").iterdir():
        (project / "data" / layer.name).mkdir(parents=True)
    place_inputs(project, challenge_dir)
    monkeypatch.chdir(project)
    yield project


def run_session(
    project: Path,
    runtime_params: dict | None = None,
    env: str | None = None,
    **run_args,
) -> dict:
    """Runs the project in-process through ``KedroSession``, as ``kedro run`` does.

    Args:
        project: Folder from ``kedro_project``.
        runtime_params: As ``--params``.
        env: As ``--env``.
        **run_args: Passed to ``KedroSession.run`` (``pipeline_names``,
            ``tags``, ``node_names``...).

    Returns:
        What ``KedroSession.run`` returns.
    """
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env=env, runtime_params=runtime_params or {}
    ) as session:
        return session.run(**run_args)


def run_kedro_cli(
    project: Path, *args: str, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Runs the real ``kedro`` command in ``project`` and captures its output."""
    kedro = Path(sys.executable).with_name("kedro")
    return subprocess.run(
        [str(kedro), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def copy_project(project: Path, challenge_dir: Path) -> Path:
    """Writes what ``kedro_project`` sets up into ``project``, without a chdir.

    For module-scoped fixtures, which cannot use ``kedro_project``.
    """
    project.mkdir(parents=True)
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    (project / "src").mkdir()
    for layer in (PROJECT_ROOT / "data").iterdir():
        (project / "data" / layer.name).mkdir(parents=True)
    place_inputs(project, challenge_dir)
    return project
