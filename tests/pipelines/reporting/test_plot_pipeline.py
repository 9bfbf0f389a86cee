"""The metrics and plot nodes of the reporting pipeline, on an in-memory catalog."""

from __future__ import annotations

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from shape.chain import parse_chain_spec
from shape.engines import sklearn_engine
from shape.pipelines.reporting import create_pipeline


def test_reporting_pipeline_draws_both_plots_from_the_metrics(
    predictions, reporting_params, preprocessing_params
):
    features = preprocessing_params["feature_columns"]
    chain = sklearn_engine.fit_chain(
        predictions, parse_chain_spec({"scale": {"StandardScaler": {}}}), features
    )
    catalog = DataCatalog(
        {
            "predictions": MemoryDataset(predictions),
            "readings_check": MemoryDataset(
                {"rows": len(predictions), "invalid_rows": 0, "invalid_by_column": {}}
            ),
            "fitted_chain": MemoryDataset(chain),
            "stage_durations": MemoryDataset({}),
            "params:engine": MemoryDataset("sklearn"),
            "params:fit_on": MemoryDataset("batch"),
            "params:reporting": MemoryDataset(reporting_params),
            "params:preprocessing": MemoryDataset(preprocessing_params),
        }
    )

    plotting = create_pipeline().only_nodes(
        "compute_metrics",
        "sample_predictions_for_plots",
        "plot_score_histogram",
        "plot_vibration_over_time",
    )

    outputs = SequentialRunner().run(plotting, catalog)

    assert set(outputs) == {"anomaly_score_histogram", "vibration_over_time_plot"}
    histogram = outputs["anomaly_score_histogram"].load()
    timeline = outputs["vibration_over_time_plot"].load()
    assert isinstance(histogram, Figure)
    # The titles come from the run's metrics and the plot sample.
    assert histogram.axes[0].get_title() == (
        "Anomaly scores of all 12 readings (3 anomalies)"
    )
    assert [axes.get_ylabel() for axes in timeline.axes] == features
    marked = [
        len(child.get_offsets())
        for axes in timeline.axes
        for child in axes.collections
        if isinstance(child, PathCollection)
    ]
    assert marked == [3, 3, 3]
