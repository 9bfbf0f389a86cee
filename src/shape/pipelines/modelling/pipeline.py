"""The modelling pipeline: check the model, then score every reading."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from shape.pipelines.modelling.nodes import check_model, score_readings


def create_pipeline(**kwargs) -> Pipeline:
    """Checks the anomaly model against the chain and scores the readings."""
    return Pipeline(
        [
            Node(
                func=check_model,
                inputs=["anomaly_model", "params:preprocessing"],
                outputs="scoring_model",
                name="check_model",
            ),
            Node(
                func=score_readings,
                inputs=[
                    "model_input_table",
                    "scoring_model",
                    "fitted_chain",
                    "params:engine",
                ],
                outputs="predictions",
                name="score_readings",
            ),
        ],
        tags="modelling",
    )
