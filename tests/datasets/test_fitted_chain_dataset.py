"""Tests of FittedChainDataset."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.io import DatasetError

from shape.datasets import FittedChainDataset
from shape.engines import sklearn_engine
from tests.test_chain import CHALLENGE_STEPS


@pytest.fixture
def chain(challenge_dir):
    readings = pd.read_parquet(challenge_dir / "dataset.parquet")
    return sklearn_engine.fit_chain(
        readings, CHALLENGE_STEPS, ["vibration_x", "vibration_y", "vibration_z"]
    )


def test_save_then_load_gives_back_the_same_numbers(chain, tmp_path):
    dataset = FittedChainDataset(filepath=str(tmp_path / "models/chain.json"))

    dataset.save(chain)

    assert dataset.load() == chain
    assert dataset.exists()
    assert [path.name for path in (tmp_path / "models").iterdir()] == ["chain.json"]


def test_missing_file_loads_as_none_only_when_allowed(tmp_path):
    path = str(tmp_path / "absent.json")

    assert FittedChainDataset(filepath=path, missing_ok=True).load() is None
    with pytest.raises(DatasetError, match=r"absent\.json' does not exist"):
        FittedChainDataset(filepath=path).load()


def test_file_of_another_format_is_refused_with_its_name(chain, tmp_path):
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(chain.to_dict() | {"format": 99}))

    with pytest.raises(
        DatasetError, match=r"chain\.json' could not be read.*format 99"
    ):
        FittedChainDataset(filepath=str(path)).load()
