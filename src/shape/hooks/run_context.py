"""The identity of the run in progress, shared by every hook of the project.

A run's id is Kedro's session id, which Kedro hands to hooks as
``run_params["run_id"]`` and also uses as the save version of versioned
datasets (a UTC timestamp such as ``2026-12-04T15.32.37.123Z``). The Kafka
events carry it as ``run_id`` and message key, and the MLflow run is tagged with
it, so the three records of a run join on one value.

Hooks that receive ``run_params`` can read the id there. Code that does not
(a dataset that writes a run summary, for instance) calls ``current_run()``,
which ``RunContextHook`` fills in before any other hook of the run starts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kedro.framework.hooks import hook_impl


@dataclass
class RunInfo:
    """What identifies the run in progress.

    Attributes:
        run_id: Kedro's session id of the run.
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
    """Publishes the run id through ``current_run()`` before the run starts."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        begin_run(str(run_params["run_id"]))
