"""Datasets of this project, for what kedro-datasets does not cover."""

from shape.datasets.fitted_chain_dataset import FittedChainDataset
from shape.datasets.parquet_batches_dataset import ParquetBatchesDataset

__all__ = ["FittedChainDataset", "ParquetBatchesDataset"]
