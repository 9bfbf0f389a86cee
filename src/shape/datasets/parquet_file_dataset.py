"""``ParquetFileDataset``: one pandas Parquet file, in place of Spark's folder.

The catalog gives each table one path whatever the engine. The Spark engine
writes a folder of part files there, the sklearn engine one file; kedro-datasets'
``pandas.ParquetDataset`` refuses to save where a folder stands, so a sklearn
run after a sparkml run would fail. This dataset writes the file beside the
folder, then swaps it in and removes the folder, so the path never holds half
of either.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import ParquetDataset


class ParquetFileDataset(ParquetDataset):
    """``pandas.ParquetDataset`` that may replace a folder of Parquet part files.

    Loading is unchanged: pandas reads a single file, or a folder of part files
    as Spark writes them. Saving always writes a single file; the arguments are
    those of ``pandas.ParquetDataset``.

    Example catalog entry::

        predictions:
          type: shape.datasets.ParquetFileDataset
          filepath: data/07_model_output/predictions.parquet
          save_args:
            index: false
    """

    def save(self, data: pd.DataFrame) -> None:
        """Saves ``data`` as one Parquet file, replacing a folder at the path."""
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))
        if self._protocol != "file" or not target.is_dir():
            super().save(data)
            return

        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        retired = target.with_name(f".{target.name}.replaced")
        try:
            data.to_parquet(temporary, **self._save_args)
            shutil.rmtree(retired, ignore_errors=True)
            target.rename(retired)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            if retired.is_dir() and not target.exists():
                retired.rename(target)
            raise
        shutil.rmtree(retired, ignore_errors=True)
        self._invalidate_cache()
