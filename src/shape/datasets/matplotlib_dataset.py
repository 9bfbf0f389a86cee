"""``MatplotlibDataset``: a matplotlib figure saved as an image file, atomically.

kedro-datasets' ``matplotlib.MatplotlibDataset`` opens the target file and then
writes the image into it, so a run killed at that moment leaves a truncated
image. This subclass renders a single figure to a temporary file beside the
target and renames it into place (``shape.datasets.atomic``). Previews in
kedro-viz work as in the parent class. Lists and dicts of figures, and remote
paths, are saved by the parent class unchanged.
"""

from __future__ import annotations

from pathlib import Path

from kedro.io.core import get_filepath_str
from kedro_datasets.matplotlib import MatplotlibDataset as _KedroMatplotlibDataset
from matplotlib.figure import Figure

from shape.datasets.atomic import atomic_write


class MatplotlibDataset(_KedroMatplotlibDataset):
    """Saves one figure atomically; see the module docstring.

    Example catalog entry::

        anomaly_score_histogram:
          type: shape.datasets.MatplotlibDataset
          filepath: data/08_reporting/anomaly_score_histogram.png
    """

    def save(self, data: Figure | list[Figure] | dict[str, Figure]) -> None:
        if self._protocol != "file" or not isinstance(data, Figure):
            super().save(data)
            return

        save_path = Path(get_filepath_str(self._get_save_path(), self._protocol))
        # The temporary name does not end in the image's extension, so the
        # format is taken from the target's unless save_args names one.
        save_args = {"format": save_path.suffix.lstrip(".") or "png"}
        save_args.update(self._save_args)
        with atomic_write(save_path) as temporary:
            data.savefig(temporary, **save_args)
        self._invalidate_cache()
