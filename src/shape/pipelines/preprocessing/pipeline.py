"""The preprocessing pipeline, and the pipeline that fits the reference chain."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from shape.pipelines.preprocessing.nodes import (
    fit_chain,
    fit_reference_chain,
    transform_readings,
    validate_readings,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Validates the raw readings, fits the chain and applies it."""
    return Pipeline(
        [
            Node(
                func=validate_readings,
                inputs=["raw_readings", "params:preprocessing", "params:engine"],
                outputs={
                    "clean_readings": "clean_readings",
                    "rejected_readings": "rejected_readings",
                    "readings_check": "readings_check",
                },
                name="validate_readings",
            ),
            Node(
                func=fit_chain,
                inputs=[
                    "clean_readings",
                    "reference_chain",
                    "params:preprocessing",
                    "params:fit_on",
                    "params:engine",
                ],
                outputs="fitted_chain",
                name="fit_chain",
            ),
            Node(
                func=transform_readings,
                inputs=["clean_readings", "fitted_chain", "params:engine"],
                outputs="model_input_table",
                name="transform_readings",
            ),
        ],
        tags="preprocessing",
    )


def create_fit_reference_pipeline(**kwargs) -> Pipeline:
    """Fits the chain on the reference table and stores it for later runs."""
    return Pipeline(
        [
            Node(
                func=validate_readings,
                inputs=["reference_readings", "params:preprocessing", "params:engine"],
                outputs={
                    "clean_readings": "clean_reference_readings",
                    "rejected_readings": "rejected_reference_readings",
                    "readings_check": "reference_readings_check",
                },
                name="validate_reference_readings",
            ),
            Node(
                func=fit_reference_chain,
                inputs=[
                    "clean_reference_readings",
                    "params:preprocessing",
                    "params:engine",
                ],
                outputs="reference_chain",
                name="fit_reference_chain",
            ),
        ],
        tags="fit_reference",
    )
