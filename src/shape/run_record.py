"""The record of one scoring run that goes to the database.

A ``ScoringRun`` is what the reporting node builds and what
``shape.datasets.ScoringRunDataset`` writes: one summary (a row of the
``scoring_runs`` table) and the run's anomalous readings (rows of the
``anomalies`` table). Predictions for every row stay in Parquet; only the
anomalies travel to the database.

The anomalies are a pandas frame, or, for the sklearn engine, a lazy
``ReadingBatches`` stream of frames that the dataset reads batch by batch while
it writes, so a run with tens of millions of anomalies never holds them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import pandas as pd

from shape.engines.batches import ReadingBatches

#: Columns of the anomalies frame that are not readings; every other column is
#: an input feature of the row, stored in the table's ``readings`` object.
ANOMALY_KEY_COLUMNS = ("row_number", "time", "anomaly_score")

#: Status of a run whose record was built after scoring finished.
STATUS_SUCCEEDED = "succeeded"


class RunContext(TypedDict):
    """What the run knows about itself, supplied by ``shape.hooks.run_context``.

    ``run_id`` is Kedro's session id unless ``--params=run_id=...`` names one;
    ``mlflow_run_id`` is None when no MLflow run is active.
    """

    run_id: str
    started_at: datetime
    finished_at: datetime
    mlflow_run_id: str | None


class RunSummary(TypedDict):
    """One row of ``scoring_runs``. Timestamps are timezone-aware (UTC)."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str
    engine: str
    fit_on: str
    input_path: str
    model_sha256: str | None
    rows: int
    anomalies: int
    anomaly_rate: float
    mlflow_run_id: str | None
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ScoringRun:
    """The summary of one run and its anomalous readings.

    Attributes:
        summary: The ``scoring_runs`` row.
        anomalies: One row per anomalous reading: ``row_number`` (int64,
            0-based position of the reading in the scored table), ``time``
            (float64), one float64 column per input feature and
            ``anomaly_score`` (float64, the model's decision function). Either
            one pandas frame or a ``ReadingBatches`` stream of such frames (in
            row order, some possibly empty), which is read only when the
            record is saved and may be read more than once.
    """

    summary: RunSummary
    anomalies: pd.DataFrame | ReadingBatches

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    @property
    def feature_columns(self) -> list[str]:
        """The input feature columns of ``anomalies``, in frame order."""
        return [
            column
            for column in self.anomalies.columns
            if column not in ANOMALY_KEY_COLUMNS
        ]

    def anomaly_frames(self) -> Iterator[pd.DataFrame]:
        """Yields the anomalies: the frame itself, or each batch of the stream.

        Raises:
            TypeError: When ``anomalies`` is neither a frame nor a stream.
        """
        if isinstance(self.anomalies, ReadingBatches):
            yield from self.anomalies
        else:
            yield self._anomaly_frame()

    def anomalies_to_pandas(self) -> pd.DataFrame:
        """All anomalies in one frame; a stream is read whole, so small runs only.

        Raises:
            TypeError: When ``anomalies`` is neither a frame nor a stream.
        """
        if isinstance(self.anomalies, ReadingBatches):
            return self.anomalies.to_pandas()
        return self._anomaly_frame()

    def _anomaly_frame(self) -> pd.DataFrame:
        if not isinstance(self.anomalies, pd.DataFrame):
            raise TypeError(
                f"The anomalies of run {self.run_id!r} must be a pandas DataFrame "
                "or a ReadingBatches stream of them; got "
                f"{type(self.anomalies).__name__}."
            )
        return self.anomalies
