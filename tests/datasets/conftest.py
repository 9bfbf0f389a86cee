"""Pickles for the model dataset tests."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.svm import OneClassSVM


@pytest.fixture(scope="session")
def small_model() -> OneClassSVM:
    """A fitted OneClassSVM on 3 features."""
    features = np.random.default_rng(0).normal(size=(40, 3))
    return OneClassSVM(gamma="auto", nu=0.1).fit(features)


def write_pickle(path: Path, payload: bytes) -> str:
    """Writes ``payload`` to ``path`` and returns its SHA-256."""
    path.write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def pickle_from_other_sklearn(model: object, version: str = "0.0.1") -> bytes:
    """Pickles ``model`` as if another scikit-learn release had written it.

    scikit-learn estimators put ``_sklearn_version`` in their pickled state
    (``BaseEstimator.__getstate__``); the version string is swapped for one of
    the same length, so the pickle stays well-formed.
    """
    payload = pickle.dumps(model)
    current = sklearn.__version__.encode()
    assert len(version) == len(current)
    marker = bytes([0x8C, len(current)]) + current
    assert payload.count(marker) == 1
    return payload.replace(marker, bytes([0x8C, len(version)]) + version.encode())
