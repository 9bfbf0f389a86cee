"""The reporting pipeline: metrics of the scoring run."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from shape.pipelines.reporting.nodes import compute_metrics


def create_pipeline(**kwargs) -> Pipeline:
    """Summarises the predictions as metrics."""
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
        ],
        tags="reporting",
    )
