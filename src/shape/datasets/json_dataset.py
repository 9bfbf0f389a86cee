"""``JSONDataset``: kedro-datasets' JSON dataset with atomic saves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset as _KedroJSONDataset

from shape.datasets.atomic import atomic_write


class JSONDataset(_KedroJSONDataset):
    """kedro-datasets' ``json.JSONDataset``, whose local saves are atomic.

    Takes the same arguments as ``kedro_datasets.json.JSONDataset``. On the local
    file system a save writes a temporary file that replaces the old one only
    once complete, so a killed run never leaves half a JSON document. Other file
    systems are written as kedro-datasets does.

    Example catalog entry::

        scoring_metrics:
          type: shape.datasets.JSONDataset
          filepath: data/08_reporting/metrics.json
          save_args:
            indent: 2
    """

    def save(self, data: Any) -> None:
        if self._protocol != "file":
            super().save(data)
            return

        save_path = Path(get_filepath_str(self._get_save_path(), self._protocol))
        with atomic_write(save_path) as temporary:
            with temporary.open("w", encoding="utf-8") as stream:
                json.dump(data, stream, **self._save_args)
        self._invalidate_cache()
