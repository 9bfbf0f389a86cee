"""Datasets of this project, for what kedro-datasets does not cover."""

from shape.datasets.fitted_chain_dataset import FittedChainDataset
from shape.datasets.json_dataset import JSONDataset
from shape.datasets.matplotlib_dataset import MatplotlibDataset
from shape.datasets.parquet_batches_dataset import ParquetBatchesDataset
from shape.datasets.parquet_dataset import ParquetDataset
from shape.datasets.scoring_run_dataset import ScoringRunDataset
from shape.datasets.spark_parquet_dataset import AtomicSparkDataset
from shape.datasets.verified_pickle_dataset import VerifiedPickleDataset

__all__ = [
    "AtomicSparkDataset",
    "FittedChainDataset",
    "JSONDataset",
    "MatplotlibDataset",
    "ParquetBatchesDataset",
    "ParquetDataset",
    "ScoringRunDataset",
    "VerifiedPickleDataset",
]
