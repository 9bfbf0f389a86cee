"""Hooks that stop a run that cannot work before anything else happens.

``ParameterCheckHook`` rejects bad parameters; ``PipelineInputsHook`` a run whose
nodes need an in-memory dataset that no node of the run makes.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines, settings
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

from shape.params import check_parameters, check_runtime_names

logger = logging.getLogger(__name__)


class ParameterCheckHook:
    """Checks the run's parameters and chain spec before any data is read."""

    # The check runs as soon as the context exists: before the catalog builds
    # its datasets (the model dataset would otherwise report a malformed hash
    # in its own words) and before another hook opens a connection (Kafka,
    # MLflow) that no error hook would then close.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Raises ``ValueError`` naming the parameter or chain step at fault."""
        loader = context.config_loader
        if loader.runtime_params:
            # The run's loader merges --params into "parameters"; a loader of
            # the same files without them gives the names the files define.
            files = settings.CONFIG_LOADER_CLASS(
                conf_source=loader.conf_source,
                env=loader.env,
                **settings.CONFIG_LOADER_ARGS,
            )
            check_runtime_names(
                loader.runtime_params, files["parameters"], list(files["globals"])
            )
        steps = check_parameters(context.params)
        logger.debug("Chain spec: %s", [step.name for step in steps])


class PipelineInputsHook:
    """Stops a run whose nodes read an in-memory dataset no node of it makes.

    The validated readings and the model input are lazy, in-memory datasets:
    a run that starts after the node making them (``--pipelines=modelling``,
    ``--from-nodes=score_readings``) would otherwise fail in the middle, with
    Kedro's "has not been saved yet". The message names the dataset and the
    nodes that make it, so the run can be widened to include them.
    """

    # First of the before_pipeline_run hooks: nothing is opened yet (an MLflow
    # run, a Kafka producer, a Spark session) that no error hook would close.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Raises ``ValueError`` naming the missing datasets and their makers."""
        unmade = [
            name
            for name in sorted(pipeline.inputs())
            if not name.startswith("params:")
            and name != "parameters"
            and _is_unsaved_memory_dataset(catalog, name)
        ]
        if not unmade:
            return
        makers = {
            name: sorted(
                node.name
                for node in pipelines.get("__default__", Pipeline([])).nodes
                if name in node.outputs
            )
            for name in unmade
        }
        needs = "; ".join(
            f"'{name}' (made by {', '.join(makers[name]) or 'no node'})"
            for name in unmade
        )
        raise ValueError(
            f"This run's nodes need {needs}, which lives only in memory during "
            "a run and is not made by any node of this one. Run the nodes that "
            "make it in the same run, for example `kedro run "
            "--pipelines=preprocessing,modelling` or `kedro run "
            "--to-nodes=score_readings`."
        )


def _is_unsaved_memory_dataset(catalog: Any, name: str) -> bool:
    # A name the catalog does not declare becomes a MemoryDataset with no data.
    dataset = catalog.get(name) if name in catalog else None
    return dataset is None or (
        isinstance(dataset, MemoryDataset) and not dataset.exists()
    )
