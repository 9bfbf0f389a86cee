"""``ScoringRunDataset`` writes a run's summary and anomalies to the run database.

The database is PostgreSQL, or an embedded SQLite file when no server is
configured; ``shape.db`` opens it and applies the shipped schema migrations
before the first write. One save is one transaction: the run's old rows are
deleted and its new summary and anomalies inserted, so a reader sees either
the whole run or nothing of it, and saving a run id again replaces that run.

The anomalies may be one pandas frame or a lazy stream of frames
(``ReadingBatches``, as the sklearn engine gives them); a stream is read batch
by batch inside the transaction, so memory is bounded by one batch however many
anomalies the run has.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.errors
import pyarrow as pa
import pyarrow.compute as pc
from kedro.io.core import AbstractDataset, DatasetError
from kedro.utils import find_kedro_project
from psycopg2.extras import Json
from pyarrow import csv as pa_csv

from shape.db import (
    DatabaseLocation,
    Dialect,
    apply_migrations,
    connect,
    parse_database_url,
)
from shape.engines.batches import ReadingBatches
from shape.run_record import ANOMALY_KEY_COLUMNS, RunSummary, ScoringRun

logger = logging.getLogger(__name__)

#: Columns of ``scoring_runs``, in table order; the keys of ``RunSummary``.
SUMMARY_COLUMNS = tuple(RunSummary.__annotations__)

#: Columns of ``anomalies`` the dataset writes, in COPY order.
ANOMALY_TABLE_COLUMNS = ("run_id", "row_number", "time", "readings", "anomaly_score")

#: CSV as COPY reads it: no header; null is an empty, unquoted field.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False)

#: Namespace (first key) of the PostgreSQL advisory locks taken per run id, so
#: that two writers of the same run id replace each other instead of clashing.
_RUN_LOCK_NAMESPACE = 0x5348


class ScoringRunDataset(AbstractDataset[ScoringRun, ScoringRun]):
    """Saves a ``ScoringRun`` to the ``scoring_runs`` and ``anomalies`` tables.

    Anomalies reach PostgreSQL through ``COPY ... FROM STDIN`` in CSV chunks of
    ``copy_chunk_rows`` rows; SQLite gets them through ``executemany``. When the
    run's anomalies are a stream, each batch is converted and written before
    the next one is read, all in the one transaction: memory stays bounded by
    a batch for any run size, and a batch that fails to arrive rolls the whole
    save back. Loading returns the run that finished last, its anomalies as
    one frame.

    Example catalog entry, with the URL read through credentials::

        scoring_run:
          type: shape.datasets.ScoringRunDataset
          credentials: shape_database   # {url: postgresql://...}
          connect_timeout: 5
    """

    def __init__(
        self,
        *,
        credentials: dict[str, Any],
        connect_timeout: int = 5,
        copy_chunk_rows: int = 100_000,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a dataset for the database named in ``credentials``.

        Args:
            credentials: ``{"url": ...}``, a SQLAlchemy-style URL such as
                ``postgresql://user:password@host:5432/database`` or
                ``sqlite:///data/08_reporting/shape.db``.
            connect_timeout: Seconds to wait for the PostgreSQL server before
                the save fails.
            copy_chunk_rows: Anomalies per COPY chunk (PostgreSQL).
            metadata: Free-form data for plugins such as kedro-viz; unused here.

        Raises:
            DatasetError: When ``credentials`` has no usable ``url``; the
                message masks the password.
        """
        url = (credentials or {}).get("url")
        if not url:
            raise DatasetError(
                "ScoringRunDataset needs credentials with a 'url' entry, such as "
                "shape_database: {url: ${oc.env:SHAPE_DATABASE_URL}}; got none."
            )
        try:
            self._location: DatabaseLocation = _under_project(parse_database_url(url))
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc
        if connect_timeout < 1 or copy_chunk_rows < 1:
            raise DatasetError(
                "ScoringRunDataset's connect_timeout and copy_chunk_rows must be "
                f"at least 1; got {connect_timeout} and {copy_chunk_rows}."
            )
        self._connect_timeout = connect_timeout
        self._copy_chunk_rows = copy_chunk_rows
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "url": self._location.safe_url,
            "connect_timeout": self._connect_timeout,
        }

    def save(self, data: ScoringRun) -> None:
        _check_run(data)
        dialect = self._location.dialect
        connection = connect(self._location, self._connect_timeout)
        try:
            apply_migrations(connection, dialect)
            if dialect is Dialect.POSTGRESQL:
                with connection:
                    written = write_run(
                        connection, dialect, data, self._copy_chunk_rows
                    )
            else:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    written = write_run(
                        connection, dialect, data, self._copy_chunk_rows
                    )
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
        finally:
            connection.close()

        logger.info(
            "Saved run %s with %d anomalies to %s",
            data.run_id,
            written,
            self._location.where,
        )

    def load(self) -> ScoringRun:
        connection = connect(self._location, self._connect_timeout)
        try:
            return read_last_run(connection, self._location.dialect)
        except (psycopg2.errors.UndefinedTable, sqlite3.OperationalError) as exc:
            raise DatasetError(
                f"{self._location.where} has no run tables yet: {exc}"
            ) from exc
        finally:
            connection.close()


def _under_project(location: DatabaseLocation) -> DatabaseLocation:
    """A relative SQLite path, taken from the Kedro project's root.

    Kedro makes the catalog's relative file paths absolute from the project
    root, so a run started in a subfolder writes where a run from the root
    does; a database URL is not a file path to Kedro, so this does the same.
    """
    database = location.url.database
    if location.dialect is not Dialect.SQLITE or Path(database).is_absolute():
        return location
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    return replace(location, url=location.url.set(database=str(root / database)))


def write_run(
    connection: Any,
    dialect: Dialect,
    run: ScoringRun,
    copy_chunk_rows: int = 100_000,
) -> int:
    """Replaces the rows of ``run.run_id`` with ``run``, without committing.

    The caller owns the transaction: nothing written here is visible to others,
    or kept, until it commits. A stream of anomalies is read here, once.

    Args:
        connection: A psycopg2 connection, or a sqlite3 connection inside
            ``BEGIN IMMEDIATE``.
        dialect: The connection's dialect.
        run: The record to write.
        copy_chunk_rows: Anomalies per COPY chunk (PostgreSQL).

    Returns:
        The number of anomalies written.
    """
    if dialect is Dialect.POSTGRESQL:
        return _write_postgresql(connection, run, copy_chunk_rows)
    return _write_sqlite(connection, run)


def _write_postgresql(connection: Any, run: ScoringRun, chunk_rows: int) -> int:
    summary = dict(run.summary, parameters=Json(run.summary["parameters"], _dumps))
    copy_sql = (
        f"COPY anomalies ({', '.join(ANOMALY_TABLE_COLUMNS)}) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            (_RUN_LOCK_NAMESPACE, run.run_id),
        )
        cursor.execute("DELETE FROM anomalies WHERE run_id = %s", (run.run_id,))
        cursor.execute("DELETE FROM scoring_runs WHERE run_id = %s", (run.run_id,))
        cursor.execute(
            f"INSERT INTO scoring_runs ({', '.join(SUMMARY_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(SUMMARY_COLUMNS))})",
            [summary[column] for column in SUMMARY_COLUMNS],
        )
        written = 0
        for chunk in anomaly_table_chunks(run, chunk_rows):
            buffer = io.BytesIO()
            pa_csv.write_csv(chunk, buffer, _CSV_OPTIONS)
            buffer.seek(0)
            cursor.copy_expert(copy_sql, buffer)
            written += chunk.num_rows
    return written


def _write_sqlite(connection: Any, run: ScoringRun) -> int:
    summary = dict(
        run.summary,
        started_at=run.summary["started_at"].isoformat(),
        finished_at=run.summary["finished_at"].isoformat(),
        parameters=_dumps(run.summary["parameters"]),
    )
    connection.execute("DELETE FROM anomalies WHERE run_id = ?", (run.run_id,))
    connection.execute("DELETE FROM scoring_runs WHERE run_id = ?", (run.run_id,))
    connection.execute(
        f"INSERT INTO scoring_runs ({', '.join(SUMMARY_COLUMNS)}) "
        f"VALUES ({', '.join(['?'] * len(SUMMARY_COLUMNS))})",
        [summary[column] for column in SUMMARY_COLUMNS],
    )
    insert = (
        f"INSERT INTO anomalies ({', '.join(ANOMALY_TABLE_COLUMNS)}) "
        f"VALUES ({', '.join(['?'] * len(ANOMALY_TABLE_COLUMNS))})"
    )
    written = 0
    for chunk in anomaly_table_chunks(run, 100_000):
        columns = [chunk.column(name).to_pylist() for name in ANOMALY_TABLE_COLUMNS]
        connection.executemany(insert, zip(*columns, strict=True))
        written += chunk.num_rows
    return written


def anomaly_table_chunks(run: ScoringRun, chunk_rows: int) -> Iterator[pa.Table]:
    """Yields the anomalies as rows of the table, ``ANOMALY_TABLE_COLUMNS``.

    Arrow does the text work in C++ (a million rows take a few seconds on a
    small machine; pandas' ``to_csv`` and string sums took five times as long).
    Arrow writes each float64 in its shortest round-trip form, so values come
    back bit for bit. NaN becomes null in every column.

    A stream of anomalies is read one batch at a time as the tables are taken:
    only the batch being converted and one table are held.

    Args:
        run: The record whose anomalies to convert.
        chunk_rows: Most rows per yielded table; a table never spans two
            batches of a stream, and an empty batch yields none.
    """
    features = run.feature_columns
    for frame in run.anomaly_frames():
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            yield pa.table(
                {
                    "run_id": pa.repeat(run.run_id, len(part)),
                    "row_number": pa.array(part["row_number"].to_numpy(dtype="int64")),
                    "time": _float_array(part["time"]),
                    "readings": _readings_json(part, features),
                    "anomaly_score": _float_array(part["anomaly_score"]),
                }
            )


def _float_array(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype="float64"), from_pandas=True)


def _readings_json(part: pd.DataFrame, features: list[str]) -> pa.Array:
    """One JSON object per row, feature name to value.

    NaN and infinities, which JSON cannot hold, become null.
    """
    pieces: list[Any] = []
    for position, column in enumerate(features):
        values = pa.array(part[column].to_numpy(dtype="float64"))
        text = pc.if_else(pc.is_finite(values), pc.cast(values, pa.string()), "null")
        pieces += [("," if position else "{") + json.dumps(column) + ":", text]
    if not pieces:
        return pa.repeat("{}", len(part))
    return pc.binary_join_element_wise(*pieces, "}", "")


def read_last_run(connection: Any, dialect: Dialect) -> ScoringRun:
    """Reads the run that finished last, with its anomalies by row number.

    Both queries read one snapshot, so a run being replaced meanwhile is read
    whole, before or after.

    Raises:
        DatasetError: When the database holds no run.
    """
    marker = "%s" if dialect is Dialect.POSTGRESQL else "?"
    cursor = connection.cursor()
    try:
        if dialect is Dialect.POSTGRESQL:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            cursor.execute("BEGIN")
        cursor.execute(
            f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM scoring_runs "
            "ORDER BY finished_at DESC LIMIT 1"
        )
        row = cursor.fetchone()
        if row is None:
            raise DatasetError("The run database holds no scoring run yet.")
        summary = dict(zip(SUMMARY_COLUMNS, row, strict=True))
        cursor.execute(
            "SELECT row_number, time, readings, anomaly_score FROM anomalies "
            f"WHERE run_id = {marker} ORDER BY row_number",
            (summary["run_id"],),
        )
        anomaly_rows = cursor.fetchall()
    finally:
        cursor.close()
        connection.rollback()

    if dialect is Dialect.SQLITE:
        summary["started_at"] = datetime.fromisoformat(summary["started_at"])
        summary["finished_at"] = datetime.fromisoformat(summary["finished_at"])
        summary["parameters"] = json.loads(summary["parameters"])
    return ScoringRun(
        summary=RunSummary(**summary), anomalies=_anomaly_frame(anomaly_rows)
    )


def _anomaly_frame(rows: list[tuple]) -> pd.DataFrame:
    readings = pd.DataFrame(
        [json.loads(item) if isinstance(item, str) else item for _, _, item, _ in rows]
    )
    frame = pd.DataFrame(
        {
            "row_number": pd.array([row[0] for row in rows], dtype="int64"),
            "time": pd.array([row[1] for row in rows], dtype="float64"),
        }
    )
    for column in readings.columns:
        frame[column] = readings[column].astype("float64").to_numpy()
    frame["anomaly_score"] = np.array([row[3] for row in rows], dtype="float64")
    return frame


def _check_run(run: ScoringRun) -> None:
    """Checks the record's shape without reading a stream of anomalies."""
    if not isinstance(run.anomalies, pd.DataFrame | ReadingBatches):
        raise DatasetError(
            f"The anomalies of run {run.run_id!r} must be a pandas DataFrame or a "
            f"ReadingBatches stream of them; got {type(run.anomalies).__name__}."
        )
    present = list(run.anomalies.columns)
    missing = [column for column in ANOMALY_KEY_COLUMNS if column not in present]
    if missing:
        raise DatasetError(
            f"The anomaly table of run {run.run_id!r} lacks columns {missing}; "
            f"expected {list(ANOMALY_KEY_COLUMNS)} plus one column per feature."
        )
    absent = [column for column in SUMMARY_COLUMNS if column not in run.summary]
    if absent or not run.run_id:
        raise DatasetError(
            f"The summary of run {run.run_id!r} lacks {absent or ['run_id']}; "
            f"expected {list(SUMMARY_COLUMNS)}."
        )


def _dumps(value: Any) -> str:
    # Parameters may hold values JSON has no type for (paths, dates); their
    # text form is what a reader of the table needs.
    return json.dumps(value, default=str, sort_keys=True)
