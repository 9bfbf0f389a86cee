"""``ParquetBatchesDataset`` reads and writes Parquet tables in bounded batches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError

from shape.datasets.atomic import atomic_write
from shape.datasets.parquet_dataset import check_parquet_source, written_by_spark
from shape.engines.batches import (
    DEFAULT_BATCH_ROWS,
    ReadingBatches,
    as_batches,
    with_progress,
)

logger = logging.getLogger(__name__)

#: Bytes read from a Parquet file at a time.
_READ_BUFFER_BYTES = 1 << 20


class ParquetBatchesDataset(AbstractDataset[Any, ReadingBatches]):
    """Loads a Parquet table as a lazy ``ReadingBatches``; saves one batch by batch.

    ``filepath`` is a Parquet file or a folder of them (a partitioned table as a
    data lake keeps it: every ``*.parquet`` file below the folder, read in
    sorted path order). Loading reads only the files' footers; rows are read
    when the stream is iterated, ``batch_rows`` at a time and only the columns
    the stream selects. Partition values encoded in folder names
    (``key=value/``) are not read as columns: every column must be in the files.

    Saving iterates the stream and appends each batch to a Parquet file, so a
    table far larger than memory can be written. The file is written beside the
    target under a temporary name and renamed into place only when every batch
    is written: a failed run leaves the previous file as it was.

    Example catalog entry::

        raw_readings:
          type: shape.datasets.ParquetBatchesDataset
          filepath: data/01_raw/readings.parquet
          batch_rows: 262144
    """

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a dataset for one Parquet file or folder.

        Args:
            filepath: Local path of a Parquet file, or of a folder of Parquet
                files (load only; saving writes one file).
            load_args: ``batch_rows``, the most rows per batch read (default
                ``DEFAULT_BATCH_ROWS``); the only load argument.
            save_args: Keyword arguments of ``pyarrow.parquet.ParquetWriter``,
                such as ``compression``. Without ``use_dictionary``, only the
                columns that are not floating point are dictionary-encoded.
            metadata: Free-form data for plugins such as kedro-viz; unused here.

        Raises:
            DatasetError: When ``load_args`` holds another key, or ``batch_rows``
                is not a positive integer.
        """
        load_args = dict(load_args or {})
        batch_rows = load_args.pop("batch_rows", DEFAULT_BATCH_ROWS)
        if load_args:
            raise DatasetError(
                f"ParquetBatchesDataset for '{filepath}': unknown load_args "
                f"{sorted(load_args)}; the only one is 'batch_rows'."
            )
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise DatasetError(
                f"ParquetBatchesDataset for '{filepath}': 'batch_rows' must be a "
                f"positive integer; got {batch_rows!r}."
            )
        self._filepath = PurePosixPath(filepath)
        self._batch_rows = batch_rows
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "batch_rows": self._batch_rows,
            "save_args": self._save_args,
        }

    def load(self) -> ReadingBatches:
        path = Path(self._filepath)
        files = check_parquet_source(path)
        columns = _common_columns(files)
        batch_rows = self._batch_rows

        def read(selected: list[str] | None) -> Iterator[pd.DataFrame]:
            wanted = columns if selected is None else selected
            for file in files:
                yield from _read_file(file, wanted, batch_rows)

        return ReadingBatches(read, columns, description=f"Parquet table '{path}'")

    def save(self, data: Any) -> None:
        path = Path(self._filepath)
        # The Spark engine writes this entry as a folder of part files; such a
        # folder is replaced, any other folder may be someone's data.
        if path.is_dir() and not written_by_spark(path):
            raise DatasetError(
                f"Cannot save to '{path}': it is a folder holding more than "
                "Spark's part files; ParquetBatchesDataset writes one Parquet file."
            )
        with atomic_write(path) as temporary:
            rows = self._write(as_batches(data), temporary)
        logger.debug("Wrote %d rows to %s", rows, path)

    def _write(self, stream: ReadingBatches, temporary: Path) -> int:
        # Each batch is written by a second thread while the next one is
        # computed (pyarrow releases the GIL while it encodes and writes), so
        # writing overlaps the work that produces the rows; at most one batch
        # waits to be written.
        writer: pq.ParquetWriter | None = None
        rows = 0
        with ThreadPoolExecutor(max_workers=1) as background:
            writing: Future | None = None
            try:
                for frame in with_progress(stream, f"Writing {self._filepath.name}"):
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(
                            temporary, table.schema, **self._writer_args(table.schema)
                        )
                    if writing is not None:
                        writing.result()
                    writing = background.submit(
                        writer.write_table, table, row_group_size=self._batch_rows
                    )
                    rows += len(frame)
                if writing is not None:
                    writing.result()
            finally:
                if writing is not None:
                    # On an error, let the batch being written finish before
                    # the file is closed; its own error, if any, is secondary.
                    wait([writing])
                if writer is not None:
                    writer.close()
        if writer is None:
            raise DatasetError(
                f"Nothing to write to '{self._filepath}': {stream.description} "
                "yielded no batch."
            )
        return rows

    def _writer_args(self, schema: pa.Schema) -> dict[str, Any]:
        """``save_args``, with dictionary encoding only where it can pay.

        Parquet's default dictionary-encodes every column; for float columns of
        measurements, where nearly every value is distinct, that costs about
        half the writing time and saves nothing. Unless ``save_args`` says
        otherwise, only columns that are not floating point are encoded so.
        """
        args = dict(self._save_args)
        if "use_dictionary" not in args:
            args["use_dictionary"] = [
                field.name for field in schema if not pa.types.is_floating(field.type)
            ]
        return args

    def _exists(self) -> bool:
        return Path(self._filepath).exists()


def _read_file(
    file: Path, columns: list[str], batch_rows: int
) -> Iterator[pd.DataFrame]:
    # With pre-buffering on, the reader keeps every row group it has read until
    # the file is closed, so memory grows with the file; a small read buffer
    # keeps it at about one row group.
    try:
        with pq.ParquetFile(
            file, pre_buffer=False, buffer_size=_READ_BUFFER_BYTES
        ) as parquet:
            for batch in parquet.iter_batches(
                batch_size=batch_rows, columns=columns, use_threads=False
            ):
                yield batch.to_pandas()
    except (FileNotFoundError, PermissionError):
        # The file went away or cannot be opened: pyarrow's message names it.
        raise
    except (OSError, pa.ArrowException) as exc:
        # A file damaged after its footer reads well until the damaged page,
        # and pyarrow's message ("Corrupt snappy compressed data") names no file.
        raise DatasetError(
            f"Parquet file '{file}' could not be read to the end: {exc}. The "
            "file is damaged; write it again."
        ) from exc


def _common_columns(files: list[Path]) -> list[str]:
    """Columns of the first file, checked against every other file's footer."""
    columns: list[str] = []
    for position, file in enumerate(files):
        try:
            names = pq.read_schema(file).names
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(
                f"Parquet file '{file}' could not be read: {exc}"
            ) from exc
        names = [name for name in names if name != "__index_level_0__"]
        if position == 0:
            columns = names
        elif names != columns:
            raise DatasetError(
                f"Parquet file '{file}' has columns {names}, but '{files[0]}' of "
                f"the same table has {columns}; every file of a table must have "
                "the same columns in the same order."
            )
    return columns
