"""``AtomicSparkDataset``: a Spark table saved whole or not at all.

kedro-datasets' ``SparkDatasetV2`` saves with Spark's writer; with
``mode: overwrite`` Spark empties the target folder before it writes, so a run
that fails while the rows are computed (scoring happens during the write)
leaves the previous output deleted. For a local path this dataset has Spark
write into a hidden folder beside the target and moves it into place only when
the write succeeded (``shape.datasets.atomic``), as the sklearn engine's
datasets do. Other file systems are saved as ``SparkDatasetV2`` saves them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro_datasets.spark import SparkDatasetV2

from shape.datasets.atomic import atomic_write


class AtomicSparkDataset(SparkDatasetV2):
    """``SparkDatasetV2`` whose local saves replace the target only on success.

    Takes the arguments of ``kedro_datasets.spark.SparkDatasetV2``.

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
        if self._protocol not in ("", "file"):
            super()._save(data)
            return
        with atomic_write(Path(self._path)) as temporary:
            self._writing_to = temporary
            try:
                super()._save(data)
            finally:
                self._writing_to = None

    def _get_save_path(self) -> PurePosixPath:
        if self._writing_to is not None:
            return PurePosixPath(self._writing_to.as_posix())
        return super()._get_save_path()
