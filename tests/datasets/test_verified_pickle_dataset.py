"""``VerifiedPickleDataset`` checks the bytes before it unpickles them."""

from __future__ import annotations

import logging
import pathlib
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from kedro.io.core import DatasetError

from shape.datasets import VerifiedPickleDataset
from shape.datasets.verified_pickle_dataset import file_sha256
from tests.datasets.conftest import pickle_from_other_sklearn, write_pickle


class _TouchOnLoad:
    """Unpickling this object creates a file: proof that code ran."""

    def __init__(self, canary: pathlib.Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return (pathlib.Path.touch, (self.canary,))


def test_matching_hash_loads_the_model(tmp_path, small_model):
    path = tmp_path / "model.pkl"
    digest = write_pickle(path, pickle.dumps(small_model))

    loaded = VerifiedPickleDataset(filepath=str(path), sha256=digest).load()

    probe = np.zeros((2, 3))
    np.testing.assert_array_equal(
        loaded.decision_function(probe), small_model.decision_function(probe)
    )
    assert file_sha256(path) == digest


def test_mismatched_hash_refuses_before_unpickling(tmp_path):
    canary = tmp_path / "code-ran"
    path = tmp_path / "model.pkl"
    found = write_pickle(path, pickle.dumps(_TouchOnLoad(canary)))
    expected = "a4d487175e686e33ef779732f1126b308304198edfca5b62b07a5ab7431c45bc"

    with pytest.raises(
        DatasetError,
        match=rf"Model file '{path}' has SHA-256 {found}, but the run expects "
        rf"{expected} .*was not unpickled.* set model_sha256: {found}",
    ):
        VerifiedPickleDataset(filepath=str(path), sha256=expected).load()
    assert not canary.exists()

    # The same bytes, once trusted, do run: the canary shows the check mattered.
    VerifiedPickleDataset(filepath=str(path), sha256=found).load()
    assert canary.exists()


def test_missing_model_file(tmp_path):
    path = tmp_path / "model.pkl"
    with pytest.raises(DatasetError, match=f"Model file '{path}' does not exist"):
        VerifiedPickleDataset(filepath=str(path), sha256="0" * 64).load()


@pytest.mark.parametrize("sha256", ["", "abc", "g" * 64, None])
def test_malformed_expected_hash_is_refused(tmp_path, sha256):
    with pytest.raises(DatasetError, match="must be 64 hexadecimal digits"):
        VerifiedPickleDataset(filepath=str(tmp_path / "m.pkl"), sha256=sha256)


def test_model_from_other_sklearn_version_is_refused(tmp_path, small_model):
    path = tmp_path / "model.pkl"
    digest = write_pickle(path, pickle_from_other_sklearn(small_model))

    with pytest.raises(
        DatasetError,
        match=rf"holds a OneClassSVM pickled by scikit-learn 0\.0\.1, but this "
        rf"environment has scikit-learn {sklearn.__version__}.*"
        r"modelling\.allow_sklearn_version_mismatch=true",
    ):
        VerifiedPickleDataset(filepath=str(path), sha256=digest).load()


def test_other_sklearn_version_allowed_knowingly_logs_instead(
    tmp_path, small_model, caplog
):
    path = tmp_path / "model.pkl"
    digest = write_pickle(path, pickle_from_other_sklearn(small_model))
    dataset = VerifiedPickleDataset(
        filepath=str(path), sha256=digest, allow_sklearn_version_mismatch=True
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            loaded = dataset.load()

    assert loaded.n_features_in_ == 3
    assert "OneClassSVM pickled by scikit-learn 0.0.1" in caplog.text


def test_damaged_pickle_with_trusted_hash(tmp_path, small_model):
    path = tmp_path / "model.pkl"
    digest = write_pickle(path, pickle.dumps(small_model)[:100])
    with pytest.raises(DatasetError, match="matches its SHA-256 but could not be"):
        VerifiedPickleDataset(filepath=str(path), sha256=digest).load()


def test_save_is_refused(tmp_path, small_model):
    dataset = VerifiedPickleDataset(filepath=str(tmp_path / "m.pkl"), sha256="0" * 64)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(small_model)
