"""The identity of the run in progress, shared by the hooks and the run record.

A run's id is Kedro's session id (``run_params["run_id"]``, a UTC timestamp such
as ``2026-12-04T15.32.37.123Z``), or the ``run_id`` runtime parameter when one
is given, so that a re-run can replace an earlier run's database rows. The
Kafka events carry it as ``run_id`` and message key, the MLflow run is tagged
with it and the database keys the run on it: a run's records join on one value.

``RunContextHook`` fixes the id before any other hook of the run needs it and
publishes it through ``current_run()``. The run record needs facts only the
running session knows (the id, start and finish times, the MLflow run); nodes
stay pure, so the hook hands those in through the ``run_context`` input, the
way ``shape.hooks.timing`` hands in ``stage_durations``.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
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


@dataclass
class RunInfo:
    """What identifies the run in progress.

    Attributes:
        run_id: The run's id (see the module docstring).
        started_at: When the pipeline started, in UTC.
        mlflow_run_id: Id of the MLflow run that tracks it, once known; None
            when tracking is off for the run.
    """

    run_id: str
    started_at: datetime
    mlflow_run_id: str | None = None


_lock = threading.Lock()
_current: RunInfo | None = None


def current_run() -> RunInfo | None:
    """The run in progress (or the last one of this process); None before any."""
    with _lock:
        return _current


def begin_run(run_id: str) -> RunInfo:
    """Records that the run ``run_id`` starts now; returns its ``RunInfo``."""
    global _current  # noqa: PLW0603 - one process runs one pipeline at a time
    info = RunInfo(run_id=run_id, started_at=datetime.now(UTC))
    with _lock:
        _current = info
    return info


class RunContextHook:
    """Fixes the run id first, and supplies the run's facts to the run record."""

    def __init__(self) -> None:
        self._run = RunInfo(run_id="", started_at=datetime.now(UTC))

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        runtime_params = run_params.get("runtime_params") or {}
        self._run = begin_run(
            str(runtime_params.get(RUN_ID_PARAM) or run_params["run_id"])
        )

    @hook_impl
    def before_node_run(self, node: Node) -> dict[str, Any] | None:
        if RUN_CONTEXT_INPUT not in node.inputs:
            return None
        return {
            RUN_CONTEXT_INPUT: RunContext(
                run_id=self._run.run_id,
                started_at=self._run.started_at,
                finished_at=datetime.now(UTC),
                mlflow_run_id=self._run.mlflow_run_id or _active_mlflow_run_id(),
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
