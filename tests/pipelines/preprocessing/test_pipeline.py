"""The preprocessing pipeline run end to end on an in-memory catalog."""

from __future__ import annotations

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from shape.datasets import FittedChainDataset
from shape.pipelines.preprocessing import create_pipeline
from shape.pipelines.preprocessing.pipeline import create_fit_reference_pipeline


def _catalog(readings, preprocessing_params, reference_path, fit_on="batch"):
    return DataCatalog(
        {
            "raw_readings": MemoryDataset(readings),
            "reference_readings": MemoryDataset(readings),
            "reference_chain": FittedChainDataset(
                filepath=str(reference_path), missing_ok=True
            ),
            "params:preprocessing": MemoryDataset(preprocessing_params),
            "params:fit_on": MemoryDataset(fit_on),
            "params:engine": MemoryDataset("sklearn"),
            # On disk, so the runner cannot release them once consumed.
            "fitted_chain": FittedChainDataset(
                filepath=str(reference_path.with_name("fitted_chain.json"))
            ),
            "model_input_table": ParquetDataset(
                filepath=str(reference_path.with_name("model_input_table.parquet"))
            ),
        }
    )


def test_preprocessing_pipeline_produces_the_model_input_table(
    readings, preprocessing_params, tmp_path
):
    catalog = _catalog(readings, preprocessing_params, tmp_path / "absent.json")

    SequentialRunner().run(create_pipeline(), catalog)

    table = catalog.load("model_input_table")
    assert table.shape == (40, 4 + 66)
    assert catalog.load("fitted_chain").n_features_out == 66
    assert all("preprocessing" in node.tags for node in create_pipeline().nodes)


def test_fit_reference_pipeline_stores_a_chain_reused_in_reference_mode(
    readings, preprocessing_params, tmp_path
):
    reference_path = tmp_path / "reference_chain.json"
    catalog = _catalog(readings, preprocessing_params, reference_path)
    SequentialRunner().run(create_fit_reference_pipeline(), catalog)
    reference = catalog.load("reference_chain")
    assert reference.n_rows_fitted == 40

    scoring = _catalog(
        readings.iloc[:5], preprocessing_params, reference_path, fit_on="reference"
    )
    SequentialRunner().run(create_pipeline(), scoring)

    assert scoring.load("fitted_chain") == reference
    assert scoring.load("model_input_table").shape == (5, 70)
