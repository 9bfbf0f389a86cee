"""Fixtures for the engine tests: the challenge readings, chain and model."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from shape.chain import ChainStep, parse_chain_spec, seed_chain_steps

FEATURE_COLUMNS = ["vibration_x", "vibration_y", "vibration_z"]


@pytest.fixture(scope="session")
def challenge_readings(challenge_dir: Path) -> pd.DataFrame:
    """The 295 real readings: time and the three vibration columns."""
    return pd.read_parquet(challenge_dir / "dataset.parquet")


@pytest.fixture(scope="session")
def challenge_steps(challenge_dir: Path) -> list[ChainStep]:
    """The challenge's chain spec, seeded as the preprocessing node seeds it."""
    return seed_chain_steps(parse_chain_spec(challenge_dir / "pipeline.jsonc"), 0)


@pytest.fixture(scope="session")
def challenge_model(challenge_dir: Path):
    """The challenge's fitted OneClassSVM."""
    with (challenge_dir / "model.pkl").open("rb") as stream:
        return pickle.load(stream)
