"""The reporting pipeline run end to end on an in-memory catalog and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from shape.datasets import ScoringRunDataset
from shape.pipelines.preprocessing.nodes import fit_reference_chain
from shape.pipelines.reporting import create_pipeline
from shape.run_record import RunContext


def test_reporting_pipeline_records_metrics_and_the_run(
    readings, preprocessing_params, tmp_path
):
    predictions = readings.assign(
        prediction=[1, 1, 1, -1] * 10, anomaly_score=[0.5, 0.2, 0.1, -0.3] * 10
    )
    parameters = {
        "engine": "sklearn",
        "fit_on": "batch",
        "input_path": "readings.parquet",
        "preprocessing": preprocessing_params,
        "modelling": {"model_sha256": "ab" * 32},
    }
    context = RunContext(
        run_id="pipeline-test",
        started_at=datetime(2026, 4, 12, 8, 0, tzinfo=UTC),
        finished_at=datetime(2026, 4, 12, 8, 1, tzinfo=UTC),
        mlflow_run_id=None,
    )
    database = ScoringRunDataset(credentials={"url": f"sqlite:///{tmp_path}/r.db"})
    catalog = DataCatalog(
        {
            "predictions": MemoryDataset(predictions),
            "readings_check": MemoryDataset(
                {"rows": 40, "invalid_rows": 0, "invalid_by_column": {}}
            ),
            "fitted_chain": MemoryDataset(
                fit_reference_chain(readings, preprocessing_params, "sklearn")
            ),
            "stage_durations": MemoryDataset({"modelling": 0.5}),
            "run_context": MemoryDataset(context),
            "parameters": MemoryDataset(parameters),
            "params:engine": MemoryDataset("sklearn"),
            "params:fit_on": MemoryDataset("batch"),
            "params:reporting": MemoryDataset(
                {
                    "max_plot_points": 5000,
                    "max_plot_anomalies": 5000,
                    "histogram_bins": 40,
                }
            ),
            "params:preprocessing": MemoryDataset(preprocessing_params),
            "scoring_metrics": MemoryDataset(copy_mode="assign"),
            "scoring_run": database,
        }
    )

    SequentialRunner().run(create_pipeline(), catalog)

    run = database.load()
    assert run.summary["run_id"] == "pipeline-test"
    assert run.summary["model_sha256"] == "ab" * 32
    assert (run.summary["rows"], run.summary["anomalies"]) == (40, 10)
    assert run.anomalies["row_number"].tolist() == list(range(3, 40, 4))
    assert run.anomalies["time"].tolist() == readings["time"].iloc[3::4].tolist()
    assert all("reporting" in node.tags for node in create_pipeline().nodes)
