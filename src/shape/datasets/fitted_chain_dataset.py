"""``FittedChainDataset`` stores a fitted transform chain as JSON."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from shape.chain import FittedChain
from shape.datasets.atomic import atomic_write


class FittedChainDataset(AbstractDataset[FittedChain, FittedChain | None]):
    """Loads and saves a ``FittedChain`` as a JSON file of plain numbers.

    JSON rather than a pickle: reading it runs no code, either engine can use
    it, and Python's float formatting round-trips every float64 exactly.

    Example catalog entry::

        reference_chain:
          type: shape.datasets.FittedChainDataset
          filepath: data/06_models/reference_chain.json
          missing_ok: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        missing_ok: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a dataset for one JSON file.

        Args:
            filepath: Local path of the JSON file.
            missing_ok: When True, loading a file that does not exist returns
                None instead of failing; nodes then decide what that means.
            metadata: Free-form data for plugins such as kedro-viz; unused here.
        """
        self._filepath = PurePosixPath(filepath)
        self._missing_ok = missing_ok
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "missing_ok": self._missing_ok}

    def load(self) -> FittedChain | None:
        path = Path(self._filepath)
        if not path.exists():
            if self._missing_ok:
                return None
            raise DatasetError(f"Fitted chain file '{path}' does not exist.")
        try:
            return FittedChain.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"Fitted chain file '{path}' could not be read: {exc}"
            ) from exc

    def save(self, data: FittedChain) -> None:
        # Write beside the target and rename, so a reader never sees half a file.
        with atomic_write(self._filepath) as temporary:
            with temporary.open("w", encoding="utf-8") as stream:
                json.dump(data.to_dict(), stream, indent=1)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()
