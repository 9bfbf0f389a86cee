"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from shape.pipelines import modelling, preprocessing, reporting
from shape.pipelines.preprocessing.pipeline import create_fit_reference_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Registers the three stages, their sum as the default, and ``fit_reference``.

    ``fit_reference`` is left out of the default run on purpose: it refits the
    reference chain, which later runs with ``fit_on: reference`` reuse as is.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    stages = {
        "preprocessing": preprocessing.create_pipeline(),
        "modelling": modelling.create_pipeline(),
        "reporting": reporting.create_pipeline(),
    }
    return {
        **stages,
        "__default__": sum(stages.values(), Pipeline([])),
        "fit_reference": create_fit_reference_pipeline(),
    }
