"""``ParameterCheckHook`` rejects bad parameters before the first node runs."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

from shape.params import check_parameters

logger = logging.getLogger(__name__)


class ParameterCheckHook:
    """Checks the run's parameters and chain spec before any data is read."""

    # tryfirst: a run with bad parameters stops before another hook opens a
    # connection (Kafka, MLflow) that no error hook would then close.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, catalog: DataCatalog) -> None:
        """Raises ``ValueError`` naming the parameter or chain step at fault."""
        steps = check_parameters(catalog.load("parameters"))
        logger.debug("Chain spec: %s", [step.name for step in steps])
