"""``ParameterCheckHook`` rejects bad parameters before anything else happens."""

from __future__ import annotations

import logging

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from shape.params import check_parameters

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
        steps = check_parameters(context.params)
        logger.debug("Chain spec: %s", [step.name for step in steps])
