"""``RunContextHook`` tells the reporting node which run it is reporting on.

The run record needs facts that only the running session knows: the run id,
when the run started, when scoring finished, the active MLflow run and the
sha256 of the model file. Nodes stay pure, so this hook hands those facts in
through the ``run_context`` input, the way ``shape.hooks.timing`` hands in
``stage_durations``.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node

from shape.run_record import RunContext

logger = logging.getLogger(__name__)

#: The node input that receives the run context.
RUN_CONTEXT_INPUT = "run_context"

#: The dataset whose file's sha256 goes into the run record.
MODEL_DATASET = "anomaly_model"

#: Runtime parameter that names the run instead of Kedro's session id, so a
#: re-run can replace an earlier run's rows: ``--params=run_id=nightly-0412``.
RUN_ID_PARAM = "run_id"


class RunContextHook:
    """Records the run id and start time, and supplies them with the MLflow run."""

    def __init__(self) -> None:
        self._run_id = ""
        self._started_at = datetime.now(UTC)
        self._model_sha256: str | None = None

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], catalog: DataCatalog
    ) -> None:
        runtime_params = run_params.get("runtime_params") or {}
        self._run_id = str(runtime_params.get(RUN_ID_PARAM) or run_params["run_id"])
        self._started_at = datetime.now(UTC)
        self._model_sha256 = _dataset_file_sha256(catalog, MODEL_DATASET)

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
                model_sha256=self._model_sha256,
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


def _dataset_file_sha256(catalog: DataCatalog, name: str) -> str | None:
    """The sha256 of the local file behind dataset ``name``, or None.

    File datasets keep their path in ``_filepath`` (kedro-datasets has no
    public accessor); a dataset without one, or a file not on the local disk,
    gives None and the record says the model's hash is unknown.
    """
    if name not in catalog:
        return None
    filepath = getattr(catalog.get(name), "_filepath", None)
    path = Path(str(filepath)) if filepath is not None else None
    if path is None or not path.is_file():
        logger.debug("No local file behind dataset %s; model sha256 unknown", name)
        return None

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
