"""The reporting pipeline: metrics of the scoring run, and its database record."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from shape.pipelines.reporting.nodes import build_run_record, compute_metrics


def create_pipeline(**kwargs) -> Pipeline:
    """Summarises the predictions as metrics and records the run.

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
        ],
        tags="reporting",
    )
