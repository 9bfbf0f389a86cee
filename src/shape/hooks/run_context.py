"""``RunContextHook`` tells the reporting node which run it is reporting on.

The run record needs facts that only the running session knows: the run id,
when the run started, when scoring finished and the active MLflow run. Nodes
stay pure, so this hook hands those facts in through the ``run_context``
input, the way ``shape.hooks.timing`` hands in ``stage_durations``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from shape.run_record import RunContext

#: The node input that receives the run context.
RUN_CONTEXT_INPUT = "run_context"

#: Runtime parameter that names the run instead of Kedro's session id, so a
#: re-run can replace an earlier run's rows: ``--params=run_id=nightly-0412``.
RUN_ID_PARAM = "run_id"


class RunContextHook:
    """Records the run id and start time, and supplies them with the MLflow run."""

    def __init__(self) -> None:
        self._run_id = ""
        self._started_at = datetime.now(UTC)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        runtime_params = run_params.get("runtime_params") or {}
        self._run_id = str(runtime_params.get(RUN_ID_PARAM) or run_params["run_id"])
        self._started_at = datetime.now(UTC)

    @hook_impl
    def before_node_run(self, node: Node) -> dict[str, Any] | None:
        if RUN_CONTEXT_INPUT not in node.inputs:
            return None
        return {
            RUN_CONTEXT_INPUT: RunContext(
                run_id=self._run_id,
                started_at=self._started_at,
                finished_at=datetime.now(UTC),
                mlflow_run_id=_active_mlflow_run_id(),
            )
        }


def _active_mlflow_run_id() -> str | None:
    # A run can only be active once something has imported mlflow; checking
    # sys.modules spares runs without MLflow the cost of importing it.
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    run = mlflow.active_run()
    return run.info.run_id if run is not None else None
