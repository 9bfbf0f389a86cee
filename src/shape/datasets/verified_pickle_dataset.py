"""``VerifiedPickleDataset`` unpickles a model only if its bytes are the expected ones.

Unpickling runs code chosen by whoever wrote the file, so a swapped or damaged
``model.pkl`` is a risk before it is a wrong answer. This dataset reads the raw
bytes, compares their SHA-256 with the hash configured for the run, and only
then unpickles them. It also turns scikit-learn's ``InconsistentVersionWarning``
(the model was pickled by another scikit-learn release, whose estimators may
compute differently) into an error, unless the run says to accept it.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError
from sklearn.exceptions import InconsistentVersionWarning

logger = logging.getLogger(__name__)

_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")

# What a damaged pickle, or one naming classes this environment lacks, raises.
_UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, AttributeError, ImportError)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as 64 lower-case hexadecimal digits."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class VerifiedPickleDataset(AbstractDataset[None, Any]):
    """Loads a pickled model after checking the SHA-256 of its bytes.

    Read-only: models are trained and pickled outside this project.

    Example catalog entry, with the hash taken from ``conf/*/globals.yml`` (the
    catalog cannot read parameters, so the value lives in globals and the
    ``modelling`` parameters repeat it for the start-up checks)::

        anomaly_model:
          type: shape.datasets.VerifiedPickleDataset
          filepath: data/06_models/model.pkl
          sha256: ${runtime_params:modelling.model_sha256, ${globals:model_sha256}}
          allow_sklearn_version_mismatch: false
    """

    def __init__(
        self,
        *,
        filepath: str,
        sha256: str,
        allow_sklearn_version_mismatch: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a dataset for one pickle file.

        Args:
            filepath: Local path of the pickle.
            sha256: Expected SHA-256 of the file, 64 hexadecimal digits.
            allow_sklearn_version_mismatch: When True, a model pickled by another
                scikit-learn release loads with a logged warning instead of
                failing. Set it only after checking the model's scores.
            metadata: Free-form data for plugins such as kedro-viz; unused here.

        Raises:
            DatasetError: When ``sha256`` is not 64 hexadecimal digits.
        """
        expected = str(sha256).strip().lower()
        if not _SHA256_PATTERN.fullmatch(expected):
            raise DatasetError(
                f"The expected SHA-256 of model file '{filepath}' must be 64 "
                f"hexadecimal digits; got {sha256!r}. Set 'model_sha256' in "
                "conf/base/globals.yml."
            )
        self._filepath = PurePosixPath(filepath)
        self._sha256 = expected
        self._allow_version_mismatch = bool(allow_sklearn_version_mismatch)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "sha256": self._sha256,
            "allow_sklearn_version_mismatch": self._allow_version_mismatch,
        }

    def load(self) -> Any:
        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(
                f"Model file '{path}' does not exist; expected the pickled anomaly "
                "model there. Run `make data` to place it."
            )
        payload = path.read_bytes()

        found = hashlib.sha256(payload).hexdigest()
        if found != self._sha256:
            raise DatasetError(
                f"Model file '{path}' has SHA-256 {found}, but the run expects "
                f"{self._sha256} (parameter 'modelling.model_sha256', from "
                "'model_sha256' in conf/*/globals.yml). The file was not "
                "unpickled: unpickling runs code, so only the configured bytes "
                "are trusted. If this model was replaced on purpose, set "
                f"model_sha256: {found} in globals.yml."
            )
        return self._unpickle(payload, path)

    def _unpickle(self, payload: bytes, path: Path) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(
                "always" if self._allow_version_mismatch else "error",
                InconsistentVersionWarning,
            )
            try:
                # The bytes are the configured ones (checked by the caller).
                model = pickle.loads(payload)
            except InconsistentVersionWarning as exc:
                raise DatasetError(
                    f"Model file '{path}' holds a {exc.estimator_name} pickled by "
                    f"scikit-learn {exc.original_sklearn_version}, but this "
                    f"environment has scikit-learn {exc.current_sklearn_version}; "
                    "its results may differ. Pickle the model again with "
                    f"{exc.current_sklearn_version}, or accept it knowingly with "
                    "--params=modelling.allow_sklearn_version_mismatch=true."
                ) from exc
            except _UNPICKLING_ERRORS as exc:
                raise DatasetError(
                    f"Model file '{path}' matches its SHA-256 but could not be "
                    f"unpickled: {type(exc).__name__}: {exc}"
                ) from exc

        for warning in caught:
            if isinstance(warning.message, InconsistentVersionWarning):
                logger.warning(
                    "Model file '%s': %s pickled by scikit-learn %s, loaded with "
                    "%s because modelling.allow_sklearn_version_mismatch is true",
                    path,
                    warning.message.estimator_name,
                    warning.message.original_sklearn_version,
                    warning.message.current_sklearn_version,
                )
            else:
                warnings.warn_explicit(
                    warning.message,
                    warning.category,
                    warning.filename,
                    warning.lineno,
                )
        return model

    def save(self, data: None) -> None:
        raise DatasetError(
            f"Model file '{self._filepath}' is read-only: models are pickled "
            "outside this project."
        )

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()
