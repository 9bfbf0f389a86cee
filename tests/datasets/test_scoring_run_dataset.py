"""``ScoringRunDataset`` against a real PostgreSQL 15 server and a SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from shape.datasets import ScoringRunDataset
from shape.datasets.scoring_run_dataset import anomaly_table_chunks
from shape.db import Dialect, connect, parse_database_url
from shape.engines import sklearn_engine
from shape.engines.batches import ReadingBatches
from shape.run_record import RunSummary, ScoringRun
from tests.conftest import PROJECT_ROOT
from tests.postgres import PASSWORD


def make_run(run_id: str, n_anomalies: int, rows: int = 1000) -> ScoringRun:
    """A run with ``n_anomalies`` anomalies of random, awkward float values."""
    rng = np.random.default_rng(n_anomalies)
    anomalies = pd.DataFrame(
        {
            "row_number": np.arange(n_anomalies, dtype="int64") * 3,
            "time": rng.random(n_anomalies) * 1e3,
            "vibration_x": rng.normal(size=n_anomalies) * 1e-7,
            "vibration_y": rng.normal(size=n_anomalies) * 1e12,
            "vibration_z": rng.normal(size=n_anomalies),
            "anomaly_score": -rng.random(n_anomalies),
        }
    )
    summary = RunSummary(
        run_id=run_id,
        started_at=datetime(2026, 4, 12, 8, 30, 0, 125000, tzinfo=UTC),
        finished_at=datetime(2026, 4, 12, 8, 31, 5, tzinfo=UTC),
        status="succeeded",
        engine="sklearn",
        fit_on="batch",
        input_path="data/01_raw/readings.parquet",
        model_sha256="ab" * 32,
        rows=rows,
        anomalies=n_anomalies,
        anomaly_rate=n_anomalies / rows,
        mlflow_run_id=None,
        parameters={"engine": "sklearn", "preprocessing": {"time_column": "time"}},
    )
    return ScoringRun(summary=summary, anomalies=anomalies)


def make_streamed_run(
    run_id: str, rows: int, batch_rows: int
) -> tuple[ScoringRun, pd.DataFrame]:
    """A run whose anomalies are the sklearn engine's stream over scored batches.

    About 40% of the ``rows`` scored readings are anomalies. Returns the run and
    the anomalies the stream holds, as one frame.
    """
    rng = np.random.default_rng(rows)
    scores = rng.uniform(-0.4, 0.6, rows)
    predictions = pd.DataFrame(
        {
            "time": np.arange(rows) * 0.1,
            "vibration_x": rng.normal(size=rows) * 1e-7,
            "vibration_y": rng.normal(size=rows) * 1e12,
            "vibration_z": rng.normal(size=rows),
            "prediction": np.where(scores > 0, 1, -1).astype("int64"),
            "anomaly_score": scores,
        }
    )
    features = ["vibration_x", "vibration_y", "vibration_z"]
    stream = sklearn_engine.select_anomalies(
        ReadingBatches.from_frame(predictions, batch_rows), "time", features
    )
    expected = sklearn_engine.select_anomalies(predictions, "time", features)
    summary = dict(
        make_run(run_id, 0).summary,
        rows=rows,
        anomalies=len(expected),
        anomaly_rate=len(expected) / rows,
    )
    return ScoringRun(summary=RunSummary(**summary), anomalies=stream), expected


def failing_stream(run: ScoringRun, good_batches: int) -> ReadingBatches:
    """``run``'s anomalies in batches of 50; the batch after ``good_batches`` fails."""
    frame = run.anomalies_to_pandas()

    def batches(columns: list[str] | None) -> Iterator[pd.DataFrame]:
        for position, start in enumerate(range(0, len(frame), 50)):
            if position == good_batches:
                raise OSError("predictions.parquet: truncated row group")
            yield frame.iloc[start : start + 50]

    return ReadingBatches(batches, list(frame.columns), description="failing")


def count_rows(url: str, run_id: str) -> tuple[int, int]:
    """Rows of ``run_id`` in scoring_runs and in anomalies."""
    location = parse_database_url(url)
    connection = connect(location, connect_timeout=5)
    marker = "?" if location.dialect is Dialect.SQLITE else "%s"
    try:
        cursor = connection.cursor()
        counts = []
        for table in ("scoring_runs", "anomalies"):
            query = f"SELECT count(*) FROM {table} WHERE run_id = {marker}"
            cursor.execute(query, (run_id,))
            counts.append(cursor.fetchone()[0])
        cursor.close()
    finally:
        connection.close()
    return counts[0], counts[1]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reporting' / 'shape.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(request.getfixturevalue("postgres_database"))


@pytest.fixture
def postgres_url(postgres_server, postgres_database) -> str:
    return postgres_server.url(postgres_database)


class TestSaveAndLoad:
    def test_round_trip_keeps_every_value(self, database_url):
        dataset = ScoringRunDataset(credentials={"url": database_url})
        run = make_run("run-a", 250)

        dataset.save(run)
        loaded = dataset.load()

        assert loaded.summary == run.summary
        pd.testing.assert_frame_equal(
            loaded.anomalies[run.anomalies.columns], run.anomalies, check_exact=True
        )

    def test_saving_the_same_run_id_replaces_its_rows(self, database_url):
        dataset = ScoringRunDataset(credentials={"url": database_url})
        dataset.save(make_run("run-a", 40))
        dataset.save(make_run("run-b", 7))

        dataset.save(make_run("run-a", 31))

        assert count_rows(database_url, "run-a") == (1, 31)
        assert count_rows(database_url, "run-b") == (1, 7)

    def test_many_copy_chunks_land_in_one_run(self, database_url):
        dataset = ScoringRunDataset(
            credentials={"url": database_url}, copy_chunk_rows=64
        )

        dataset.save(make_run("run-a", 1000, rows=5000))

        assert count_rows(database_url, "run-a") == (1, 1000)
        assert dataset.load().anomalies["row_number"].is_monotonic_increasing

    def test_non_finite_readings_are_stored_as_null(self, database_url):
        run = make_run("run-a", 3)
        run.anomalies.loc[1, "vibration_x"] = np.nan
        run.anomalies.loc[2, "vibration_y"] = np.inf
        run.anomalies.loc[0, "time"] = np.nan
        dataset = ScoringRunDataset(credentials={"url": database_url})

        dataset.save(run)
        loaded = dataset.load().anomalies

        assert np.isnan(loaded.loc[0, "time"])
        assert np.isnan(loaded.loc[1, "vibration_x"])
        assert np.isnan(loaded.loc[2, "vibration_y"])
        assert loaded.loc[2, "vibration_x"] == run.anomalies.loc[2, "vibration_x"]


class TestAnomalyStreams:
    def test_batches_are_written_with_their_row_numbers_and_values(self, database_url):
        run, expected = make_streamed_run("run-s", rows=5_000, batch_rows=333)
        dataset = ScoringRunDataset(
            credentials={"url": database_url}, copy_chunk_rows=64
        )

        dataset.save(run)
        loaded = dataset.load()

        assert 1_800 < len(expected) < 2_200
        assert count_rows(database_url, "run-s") == (1, len(expected))
        assert loaded.summary == run.summary
        pd.testing.assert_frame_equal(
            loaded.anomalies[expected.columns], expected, check_exact=True
        )
        # Row numbers run on across batches: row i of the scored table is at
        # time 0.1 i.
        np.testing.assert_array_equal(
            loaded.anomalies["row_number"].to_numpy(),
            np.rint(loaded.anomalies["time"].to_numpy() * 10).astype("int64"),
        )

    def test_saving_a_stream_again_replaces_the_run(self, database_url):
        run, expected = make_streamed_run("run-s", rows=2_000, batch_rows=250)
        dataset = ScoringRunDataset(credentials={"url": database_url})

        dataset.save(run)
        dataset.save(run)

        assert count_rows(database_url, "run-s") == (1, len(expected))

    def test_a_batch_failing_mid_stream_keeps_the_previous_run(self, database_url):
        dataset = ScoringRunDataset(
            credentials={"url": database_url}, copy_chunk_rows=16
        )
        previous = make_run("run-a", 20)
        dataset.save(previous)
        replacement = make_run("run-a", 400)
        broken = ScoringRun(replacement.summary, failing_stream(replacement, 3))

        with pytest.raises(DatasetError, match="truncated row group"):
            dataset.save(broken)

        assert count_rows(database_url, "run-a") == (1, 20)
        loaded = dataset.load()
        assert loaded.summary == previous.summary
        pd.testing.assert_frame_equal(
            loaded.anomalies[previous.anomalies.columns],
            previous.anomalies,
            check_exact=True,
        )

    def test_a_new_run_failing_mid_stream_leaves_nothing(self, database_url):
        dataset = ScoringRunDataset(credentials={"url": database_url})
        dataset.save(make_run("other", 5))
        new = make_run("run-n", 400)

        with pytest.raises(DatasetError, match="truncated row group"):
            dataset.save(ScoringRun(new.summary, failing_stream(new, 2)))

        assert count_rows(database_url, "run-n") == (0, 0)
        assert count_rows(database_url, "other") == (1, 5)

    def test_a_stream_is_converted_one_batch_at_a_time(self):
        run = make_run("run-a", 400)
        frame = run.anomalies
        handed_out: list[int] = []

        def batches(columns: list[str] | None) -> Iterator[pd.DataFrame]:
            for start in range(0, len(frame), 100):
                handed_out.append(start)
                yield frame.iloc[start : start + 100]

        stream = ReadingBatches(batches, list(frame.columns), description="counted")
        chunks = anomaly_table_chunks(ScoringRun(run.summary, stream), 40)

        # Chunks of 40 rows that never span two batches of 100: 40, 40, 20.
        sizes = []
        for chunk in chunks:
            sizes.append(chunk.num_rows)
            assert len(handed_out) == (len(sizes) - 1) // 3 + 1
        assert sizes == [40, 40, 20] * 4
        assert len(handed_out) == 4


class TestAtomicity:
    def test_failure_after_copy_keeps_the_previous_version(self, database_url):
        dataset = ScoringRunDataset(
            credentials={"url": database_url}, copy_chunk_rows=16
        )
        dataset.save(make_run("run-a", 20))
        broken = make_run("run-a", 50)
        # Two anomalies with one row number break the primary key: the fourth
        # chunk fails after the old rows were deleted, the new summary written
        # and three chunks loaded.
        broken.anomalies.loc[49, "row_number"] = 0

        with pytest.raises(DatasetError, match=r"(?i)unique|duplicate"):
            dataset.save(broken)

        assert count_rows(database_url, "run-a") == (1, 20)
        assert dataset.load().summary["anomalies"] == 20

    def test_writer_killed_before_commit_leaves_nothing(
        self, postgres_server, postgres_url
    ):
        ScoringRunDataset(credentials={"url": postgres_url}).save(make_run("kept", 5))
        writer = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, postgres_url],
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        try:
            # The writer reports once the summary and all anomalies are
            # written, and then waits, transaction open, to be killed.
            assert writer.stdout.readline().strip() == "written 20000"
            assert count_rows(postgres_url, "killed") == (0, 0)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
        _wait_for_backends_to_end(postgres_server, postgres_url)

        assert count_rows(postgres_url, "killed") == (0, 0)
        assert count_rows(postgres_url, "kept") == (1, 5)
        # The killed writer's locks went with its session: the run id is free.
        ScoringRunDataset(credentials={"url": postgres_url}).save(make_run("killed", 3))
        assert count_rows(postgres_url, "killed") == (1, 3)


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from shape.datasets.scoring_run_dataset import write_run
    from shape.db import apply_migrations, connect, parse_database_url
    from tests.datasets.test_scoring_run_dataset import make_run

    location = parse_database_url(sys.argv[1])
    connection = connect(location, connect_timeout=5)
    apply_migrations(connection, location.dialect)
    write_run(connection, location.dialect, make_run("killed", 20000, 90000))
    print("written 20000", flush=True)
    time.sleep(600)
    """
)


def _wait_for_backends_to_end(server, url: str) -> None:
    database = url.rsplit("/", 1)[1]
    admin = server.connect()
    try:
        with admin.cursor() as cursor:
            for _ in range(100):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()",
                    (database,),
                )
                if cursor.fetchone()[0] == 0:
                    return
                cursor.execute("SELECT pg_sleep(0.1)")
        pytest.fail(f"A session on {database} outlived its killed client")
    finally:
        admin.close()


class TestFailures:
    def test_wrong_password_names_host_and_database_only(
        self, postgres_server, postgres_database
    ):
        wrong = "wrong-" + PASSWORD
        dataset = ScoringRunDataset(
            credentials={"url": postgres_server.url(postgres_database, wrong)}
        )

        with pytest.raises(DatasetError) as caught:
            dataset.save(make_run("run-a", 3))

        message = str(caught.value)
        assert f"PostgreSQL database '{postgres_database}' on 127.0.0.1" in message
        assert wrong not in message
        assert wrong not in repr(dataset)

    def test_load_before_any_run_is_explained(self, database_url):
        dataset = ScoringRunDataset(credentials={"url": database_url})

        with pytest.raises(DatasetError, match="has no run tables yet"):
            dataset.load()

    def test_load_of_empty_tables_is_explained(self, database_url):
        dataset = ScoringRunDataset(credentials={"url": database_url})
        dataset.save(make_run("run-a", 1))
        location = parse_database_url(database_url)
        connection = connect(location, connect_timeout=5)
        cursor = connection.cursor()
        cursor.execute("DELETE FROM scoring_runs")
        if location.dialect is Dialect.POSTGRESQL:
            connection.commit()
        connection.close()

        with pytest.raises(DatasetError, match="holds no scoring run yet"):
            dataset.load()

    @pytest.mark.parametrize("credentials", [{}, {"url": ""}, None])
    def test_missing_url_is_explained(self, credentials):
        with pytest.raises(DatasetError, match="needs credentials with a 'url'"):
            ScoringRunDataset(credentials=credentials)

    def test_frame_without_score_is_refused_before_connecting(self, tmp_path):
        run = make_run("run-a", 3)
        run = ScoringRun(run.summary, run.anomalies.drop(columns="anomaly_score"))
        dataset = ScoringRunDataset(
            credentials={"url": f"sqlite:///{tmp_path / 'runs.db'}"}
        )

        with pytest.raises(DatasetError, match=r"lacks columns \['anomaly_score'\]"):
            dataset.save(run)

        assert not (tmp_path / "runs.db").exists()

    def test_anomalies_of_another_kind_are_refused_before_connecting(self, tmp_path):
        run = make_run("run-a", 3)
        run = ScoringRun(run.summary, [run.anomalies])
        dataset = ScoringRunDataset(
            credentials={"url": f"sqlite:///{tmp_path / 'runs.db'}"}
        )

        with pytest.raises(
            DatasetError, match="must be a pandas DataFrame or a ReadingBatches"
        ):
            dataset.save(run)

        assert not (tmp_path / "runs.db").exists()


def test_sqlite_parameters_are_json_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ScoringRunDataset(credentials={"url": url}).save(make_run("run-a", 2))

    connection = sqlite3.connect(tmp_path / "runs.db")
    parameters, started = connection.execute(
        "SELECT parameters, started_at FROM scoring_runs"
    ).fetchone()
    connection.close()
    assert json.loads(parameters)["preprocessing"] == {"time_column": "time"}
    assert started == "2026-04-12T08:30:00.125000+00:00"
