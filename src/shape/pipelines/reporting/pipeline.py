"""The reporting pipeline: metrics, the database record and plots of the run."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from shape.pipelines.reporting.nodes import (
    build_run_record,
    compute_metrics,
    plot_score_histogram,
    plot_vibration_over_time,
    sample_predictions_for_plots,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Summarises the predictions as metrics, records the run and plots it.

    ``build_run_record`` takes ``predictions`` as input, so the run's Parquet
    predictions are saved before the database is contacted: a database that is
    down fails the run without losing them.
    """
    return Pipeline(
        [
            Node(
                func=compute_metrics,
                inputs=[
                    "predictions",
                    "readings_check",
                    "fitted_chain",
                    "stage_durations",
                    "params:engine",
                    "params:fit_on",
                ],
                outputs="scoring_metrics",
                name="compute_metrics",
            ),
            Node(
                func=build_run_record,
                inputs=[
                    "predictions",
                    "scoring_metrics",
                    "run_context",
                    "parameters",
                ],
                outputs="scoring_run",
                name="build_run_record",
            ),
            Node(
                func=sample_predictions_for_plots,
                inputs=["predictions", "params:reporting", "params:engine"],
                outputs="plotted_predictions",
                name="sample_predictions_for_plots",
            ),
            Node(
                func=plot_score_histogram,
                inputs=["plotted_predictions", "scoring_metrics", "params:reporting"],
                outputs="anomaly_score_histogram",
                name="plot_score_histogram",
            ),
            Node(
                func=plot_vibration_over_time,
                inputs=[
                    "plotted_predictions",
                    "scoring_metrics",
                    "params:preprocessing",
                ],
                outputs="vibration_over_time_plot",
                name="plot_vibration_over_time",
            ),
        ],
        tags="reporting",
    )
