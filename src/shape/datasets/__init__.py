"""Datasets of this project, for what kedro-datasets does not cover."""

from shape.datasets.fitted_chain_dataset import FittedChainDataset

__all__ = ["FittedChainDataset"]
