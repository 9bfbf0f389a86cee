"""Real ``kedro run``s that record the run in PostgreSQL 15 or in SQLite."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_kedro_cli, run_session
from tests.postgres import PASSWORD, free_port

#: sha256 of the challenge's model.pkl (../shared/README.md).
MODEL_SHA256 = "a4d487175e686e33ef779732f1126b308304198edfca5b62b07a5ab7431c45bc"


@pytest.fixture
def db_project(kedro_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project copy with only committed configuration and no URL set.

    A developer's conf/local/credentials.yml could name another database; the
    tests use conf/base/connections.yml and the URL they set themselves.
    """
    for path in (kedro_project / "conf" / "local").glob("*credentials*"):
        path.unlink()
    monkeypatch.delenv("SHAPE_DATABASE_URL", raising=False)
    return kedro_project


def _fetch(connection, query: str, *args) -> list[tuple]:
    cursor = connection.cursor()
    cursor.execute(query, args)
    rows = [tuple(row) for row in cursor.fetchall()]
    cursor.close()
    return rows


def _assert_challenge_anomalies(rows: list[tuple], expected: pd.DataFrame) -> None:
    """``rows`` are (row_number, time, anomaly_score) ordered by row number."""
    truth = expected[expected["prediction"] == -1]
    assert [row[0] for row in rows] == truth["row"].tolist()
    np.testing.assert_array_equal([row[1] for row in rows], truth["time"].to_numpy())
    np.testing.assert_allclose(
        [row[2] for row in rows],
        truth["decision_function"].to_numpy(),
        rtol=0,
        atol=1e-9,
    )


def test_run_records_summary_and_anomalies_in_postgresql(
    db_project, postgres_server, postgres_database, expected_predictions, monkeypatch
):
    monkeypatch.setenv("SHAPE_DATABASE_URL", postgres_server.url(postgres_database))

    run_session(db_project, runtime_params={"run_id": "challenge-run"})
    # The same run id again, through the prod environment: replaced, not added.
    run_session(db_project, runtime_params={"run_id": "challenge-run"}, env="prod")

    connection = postgres_server.connect(postgres_database)
    try:
        runs = _fetch(
            connection,
            "SELECT run_id, status, engine, fit_on, rows, anomalies, anomaly_rate, "
            "model_sha256, mlflow_run_id, parameters->'preprocessing'->>'time_column',"
            " started_at < finished_at FROM scoring_runs",
        )
        anomalies = _fetch(
            connection,
            "SELECT row_number, time, anomaly_score FROM anomalies "
            "WHERE run_id = %s ORDER BY row_number",
            "challenge-run",
        )
        readings = _fetch(
            connection,
            "SELECT (readings->>'vibration_x')::float8 FROM anomalies "
            "ORDER BY row_number LIMIT 1",
        )
    finally:
        connection.close()

    # The run was tracked in the project's local MLflow store; the database
    # names that MLflow run, which is tagged with the same shape run id.
    mlflow_run_id = runs[0][8]
    tracked = MlflowClient(
        tracking_uri=f"sqlite:///{db_project / 'mlruns/mlflow.db'}"
    ).get_run(mlflow_run_id)
    assert tracked.data.tags["shape.run_id"] == "challenge-run"
    assert runs == [
        (
            "challenge-run",
            "succeeded",
            "sklearn",
            "batch",
            295,
            31,
            31 / 295,
            MODEL_SHA256,
            mlflow_run_id,
            "time",
            True,
        )
    ]
    _assert_challenge_anomalies(anomalies, expected_predictions)
    first_row = pd.read_parquet(db_project / "data/01_raw/readings.parquet").iloc[
        anomalies[0][0]
    ]
    assert readings == [(first_row["vibration_x"],)]


def test_without_url_the_run_goes_to_the_sqlite_file(db_project, expected_predictions):
    run_session(db_project)

    database = db_project / "data/08_reporting/shape.db"
    connection = sqlite3.connect(database)
    try:
        runs = _fetch(connection, "SELECT run_id, rows, anomalies FROM scoring_runs")
        anomalies = _fetch(
            connection,
            "SELECT row_number, time, anomaly_score FROM anomalies ORDER BY row_number",
        )
    finally:
        connection.close()

    [(run_id, rows, count)] = runs
    # Without --params=run_id=..., the run id is Kedro's session id.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z", run_id)
    assert (rows, count) == (295, 31)
    _assert_challenge_anomalies(anomalies, expected_predictions)


def test_a_run_from_a_subfolder_writes_the_project_database(db_project):
    subfolder = db_project / "notebooks"
    subfolder.mkdir()

    result = run_kedro_cli(subfolder, "run")

    assert result.returncode == 0, result.stderr[-3000:]
    assert not (subfolder / "data").exists()
    connection = sqlite3.connect(db_project / "data/08_reporting/shape.db")
    try:
        runs = _fetch(connection, "SELECT rows, anomalies FROM scoring_runs")
    finally:
        connection.close()
    assert runs == [(295, 31)]


def test_database_down_fails_the_run_but_keeps_predictions(db_project, monkeypatch):
    port = free_port()
    monkeypatch.setenv(
        "SHAPE_DATABASE_URL", f"postgresql://shape:{PASSWORD}@127.0.0.1:{port}/runs"
    )

    with pytest.raises(Exception) as caught:
        run_session(db_project)

    message = str(caught.value)
    assert f"PostgreSQL database 'runs' on 127.0.0.1:{port}" in message
    assert PASSWORD not in message
    predictions = pd.read_parquet(
        db_project / "data/07_model_output/predictions.parquet"
    )
    assert len(predictions) == 295
    assert (predictions["prediction"] == -1).sum() == 31


def test_prod_env_without_url_stops_before_any_node(db_project):
    with pytest.raises(Exception, match="SHAPE_DATABASE_URL"):
        run_session(db_project, env="prod")

    assert not (db_project / "data/07_model_output/predictions.parquet").exists()
    assert not (db_project / "data/08_reporting/shape.db").exists()


def test_cli_output_of_wrong_password_names_database_not_password(
    db_project, postgres_server, postgres_database
):
    wrong = "wrong-" + PASSWORD

    result = run_kedro_cli(
        db_project,
        "run",
        env={"SHAPE_DATABASE_URL": postgres_server.url(postgres_database, wrong)},
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"PostgreSQL database '{postgres_database}' on "
        f"127.0.0.1:{postgres_server.port}" in output
    )
    assert "password authentication failed" in output
    assert wrong not in output
    assert (db_project / "data/07_model_output/predictions.parquet").is_file()
