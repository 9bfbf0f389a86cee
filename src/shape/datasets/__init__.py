"""Datasets of this project, for what kedro-datasets does not cover."""

from shape.datasets.fitted_chain_dataset import FittedChainDataset
from shape.datasets.parquet_file_dataset import ParquetFileDataset

__all__ = ["FittedChainDataset", "ParquetFileDataset"]
