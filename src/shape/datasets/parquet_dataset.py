"""``ParquetDataset``: pandas Parquet tables with clear load errors and atomic saves.

kedro-datasets' ``pandas.ParquetDataset`` reads a folder with no Parquet files as
an empty table and reports a broken file as pyarrow's "magic bytes not found in
footer" without saying which file; its save writes over the old file in place,
so a run killed mid-write leaves half a file. This subclass checks the source
before reading (``check_parquet_source``, usable by any reader) and saves
through ``shape.datasets.atomic``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import ParquetDataset as _KedroParquetDataset

from shape.datasets.atomic import atomic_write

logger = logging.getLogger(__name__)

#: Every Parquet file starts and ends with these four bytes.
PARQUET_MAGIC = b"PAR1"

# Magic at both ends plus the 4-byte footer length.
_SMALLEST_PARQUET_FILE = 12


def check_parquet_source(path: str | Path) -> list[Path]:
    """Checks that ``path`` is a Parquet file, or a folder of Parquet files.

    Only the first and last bytes of each file are read. Files whose names start
    with ``.`` or ``_`` are skipped, as pyarrow and Spark skip them.

    Args:
        path: Local path of a file, or of a folder read as one table.

    Returns:
        The Parquet files that make up the table.

    Raises:
        DatasetError: When the path does not exist, a folder holds no Parquet
            file, or a file is not Parquet or is truncated; the message names
            the file and says what was found.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"Parquet input '{path}' does not exist; expected a Parquet file or a "
            "folder of Parquet files there."
        )
    if path.is_dir():
        files = sorted(
            candidate
            for candidate in path.rglob("*")
            if candidate.is_file() and not _is_hidden(candidate.relative_to(path))
        )
        if not files:
            raise DatasetError(
                f"Parquet input folder '{path}' holds no Parquet files; expected "
                "at least one file such as part-0.parquet."
            )
    else:
        files = [path]
    for file in files:
        _check_parquet_file(file)
    return files


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _check_parquet_file(file: Path) -> None:
    size = file.stat().st_size
    with file.open("rb") as stream:
        head = stream.read(len(PARQUET_MAGIC))
        stream.seek(max(0, size - len(PARQUET_MAGIC)))
        tail = stream.read(len(PARQUET_MAGIC))

    if head != PARQUET_MAGIC:
        raise DatasetError(
            f"File '{file}' is not a Parquet file: it should start with the bytes "
            f"{PARQUET_MAGIC!r} but starts with {head!r} ({size} bytes in all)."
        )
    if size < _SMALLEST_PARQUET_FILE or tail != PARQUET_MAGIC:
        raise DatasetError(
            f"Parquet file '{file}' is truncated: it starts like a Parquet file "
            f"but its {size} bytes end without the closing {PARQUET_MAGIC!r} "
            "footer, as when a copy or a write was interrupted. Write the file "
            "again."
        )


class ParquetDataset(_KedroParquetDataset):
    """kedro-datasets' ``pandas.ParquetDataset``, with checked loads and atomic saves.

    Takes the same arguments as ``kedro_datasets.pandas.ParquetDataset``. On the
    local file system, a load first runs ``check_parquet_source`` and a save
    writes to a temporary path that replaces the file only once complete. Other
    file systems (s3://, ...) are read and written as kedro-datasets does: they
    have no atomic rename to build on.

    Example catalog entry::

        predictions:
          type: shape.datasets.ParquetDataset
          filepath: data/07_model_output/predictions.parquet
          save_args:
            index: false
    """

    def load(self) -> pd.DataFrame:
        if self._protocol != "file":
            return super().load()

        load_path = Path(get_filepath_str(self._get_load_path(), self._protocol))
        check_parquet_source(load_path)
        try:
            return pd.read_parquet(load_path, **self._load_args)
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"Parquet input '{load_path}' could not be read: {exc}"
            ) from exc

    def save(self, data: pd.DataFrame) -> None:
        if self._protocol != "file":
            super().save(data)
            return

        save_path = Path(get_filepath_str(self._get_save_path(), self._protocol))
        # The Spark engine writes the same catalog entries as folders of part
        # files; such a folder is replaced, so that switching engines works.
        # Any other folder may be someone's data and is refused.
        if save_path.is_dir() and not _written_by_spark(save_path):
            raise DatasetError(
                f"Cannot save a pandas table to '{save_path}': it is a folder "
                "holding more than Spark's part files. Delete it or change the "
                "catalog entry's filepath."
            )
        with atomic_write(save_path) as temporary:
            data.to_parquet(temporary, **self._save_args)
        self._invalidate_cache()


def _written_by_spark(folder: Path) -> bool:
    """True when ``folder`` holds only what a Spark Parquet write leaves."""
    return all(
        entry.is_file()
        and (
            entry.name.startswith(("part-", "_SUCCESS", "_committed_", "_started_"))
            or entry.name.endswith(".crc")
        )
        for entry in folder.iterdir()
    )
