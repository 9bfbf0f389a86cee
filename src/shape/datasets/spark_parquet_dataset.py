"""``AtomicSparkDataset``: a Spark table saved whole or not at all.

kedro-datasets' ``SparkDatasetV2`` saves with Spark's writer; with
``mode: overwrite`` Spark empties the target folder before it writes, so a run
that fails while the rows are computed (scoring happens during the write)
leaves the previous output deleted. For a local path this dataset has Spark
write into a hidden folder beside the target and moves it into place only when
the write succeeded (``shape.datasets.atomic``), as the sklearn engine's
datasets do. Other file systems are saved as ``SparkDatasetV2`` saves them.

Parquet columns of floating-point numbers are written without dictionary
encoding, as ``ParquetBatchesDataset`` writes them: readings and scores hardly
ever repeat, so the writer would fill a dictionary for each column chunk only
to give it up, which took about a seventh of the time Spark spends writing the
predictions.

A local Parquet input is checked as the sklearn engine's datasets check it (it
exists, every file is whole Parquet) before Spark reads it. A Parquet table
with nanosecond timestamps (pandas' default), which Spark refuses with a
message naming neither the column nor a remedy, fails to load with one that
names both.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq
from kedro.io.core import DatasetError
from kedro_datasets.spark import SparkDatasetV2
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import types as T

from shape.datasets.atomic import atomic_write
from shape.datasets.parquet_dataset import check_parquet_source


class AtomicSparkDataset(SparkDatasetV2):
    """``SparkDatasetV2`` whose local saves replace the target only on success.

    Takes the arguments of ``kedro_datasets.spark.SparkDatasetV2``. For
    Parquet, without a ``parquet.enable.dictionary`` option in ``save_args``
    only the columns that are not floating point are dictionary-encoded.

    Example catalog entry::

        predictions:
          type: shape.datasets.AtomicSparkDataset
          filepath: data/07_model_output/predictions.parquet
          file_format: parquet
          save_args:
            mode: overwrite
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writing_to: Path | None = None

    # ``_save``, not ``save``: Kedro wraps ``_save`` of a dataset that defines
    # one as its public ``save``, so an override of ``save`` would be replaced.
    def _save(self, data: Any) -> None:
        save_args = self._save_args
        self._save_args = _plain_float_columns(data, self._file_format, save_args)
        try:
            if self._protocol not in ("", "file"):
                super()._save(data)
                return
            with atomic_write(Path(self._path)) as temporary:
                self._writing_to = temporary
                try:
                    super()._save(data)
                finally:
                    self._writing_to = None
        finally:
            self._save_args = save_args

    def _load(self) -> SparkDataFrame:
        if self._protocol in ("", "file") and self._file_format == "parquet":
            # The checks the sklearn engine's datasets make, in their words:
            # Spark's own message for a file that is not Parquet ends a long
            # Java stack trace.
            check_parquet_source(self._path)
        try:
            return super()._load()
        except AnalysisException as exc:
            # Spark's message names neither the column nor a way out.
            if "TIMESTAMP(NANOS" not in str(exc):
                raise
            raise DatasetError(_nanosecond_timestamps_message(self._path)) from exc

    def _get_save_path(self) -> PurePosixPath:
        if self._writing_to is not None:
            return PurePosixPath(self._writing_to.as_posix())
        return super()._get_save_path()


def _plain_float_columns(
    data: Any, file_format: str, save_args: dict[str, Any]
) -> dict[str, Any]:
    """``save_args`` with dictionary encoding off for floating-point columns.

    parquet-mr takes ``parquet.enable.dictionary#COLUMN`` per column; the
    arguments are returned unchanged for other formats, pandas frames, or when
    they set any ``parquet.enable.dictionary`` option themselves.
    """
    if (
        file_format != "parquet"
        or not isinstance(data, SparkDataFrame)
        or any(key.startswith("parquet.enable.dictionary") for key in save_args)
    ):
        return save_args
    floats = {
        f"parquet.enable.dictionary#{field.name}": "false"
        for field in data.schema.fields
        if isinstance(field.dataType, T.DoubleType | T.FloatType)
    }
    return {**floats, **save_args}


def _nanosecond_timestamps_message(path: PurePosixPath) -> str:
    """Why Spark cannot read ``path``, naming its nanosecond timestamp columns."""
    try:
        # A local file or folder; other file systems go without the names.
        schema = pq.ParquetDataset(str(path)).schema
        columns = [
            field.name for field in schema if getattr(field.type, "unit", None) == "ns"
        ]
    except (OSError, ValueError):
        columns = []
    which = f" {columns}" if columns else ""
    return (
        f"Parquet input '{path}' has timestamp column(s){which} in nanoseconds, "
        "which Spark cannot read (pandas writes timestamps so by default). "
        "Write them in microseconds, for example with pandas' "
        "to_parquet(..., coerce_timestamps='us', allow_truncated_timestamps=True), "
        "or score this table with the sklearn engine."
    )
