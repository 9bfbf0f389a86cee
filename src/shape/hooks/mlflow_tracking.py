"""``MlflowTrackingHook`` records each scoring run in the MLflow run of kedro-mlflow.

kedro-mlflow (its plugin hook, configured by ``conf/base/mlflow.yml``) opens an
MLflow run for every ``kedro run``, logs the ``params:`` inputs of the nodes and
closes the run at the end, failed or not. This hook adds what makes a scoring
run reproducible and comparable:

- parameters: ``input_path``, ``model_sha256`` and the fitted chain
  (``chain.steps`` and ``chain.<step>.<argument>``), besides kedro-mlflow's
  ``engine``, ``fit_on`` and ``preprocessing.*``;
- metrics: ``rows``, ``anomalies``, ``inliers``, ``anomaly_rate`` and
  ``duration_s.<stage>`` (seconds per stage, and ``duration_s.total``);
- artifacts: every file written by a ``reporting`` node (``metrics.json``, the
  plots when the reporting pipeline draws them), under ``reporting/``;
- the model ``anomaly_model``: the fitted chain and the anomaly estimator as one
  pyfunc model (``shape.mlflow_model``) that scores raw readings;
- the tag ``shape.run_id``, the run id shared with the Kafka events.

A run stopped by Ctrl-C or by ``SIGTERM`` gets no error hook from Kedro (it
catches only ``Exception``), and MLflow would close it at exit as
``FINISHED``; this hook marks it ``KILLED`` with a ``shape.error`` tag
instead.

It also keeps a tracking server that cannot be reached from failing the run:
before kedro-mlflow connects, a remote ``MLFLOW_TRACKING_URI`` is probed with
a short timeout, and when nothing answers the run is recorded in the project's
local store instead, with one warning.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import logging
import os
import pickle
import platform
import signal
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunsplit

import mlflow
import numpy as np
import pandas as pd
import sklearn
from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

import shape
from shape.chain import FittedChain
from shape.engines.batches import ReadingBatches
from shape.hooks.redact import redact
from shape.hooks.run_context import current_run
from shape.hooks.timing import StageTimingHook
from shape.mlflow_model import CHAIN_ARTIFACT, ESTIMATOR_ARTIFACT

logger = logging.getLogger(__name__)

#: Where runs go when the tracking server does not answer: the store that
#: conf/base/mlflow.yml names when MLFLOW_TRACKING_URI is not set.
LOCAL_TRACKING_URI = "sqlite:///mlruns/mlflow.db"

#: Node outputs this hook reads, by catalog name.
CHAIN_OUTPUT = "fitted_chain"
ESTIMATOR_OUTPUT = "scoring_model"
READINGS_OUTPUT = "clean_readings"
METRICS_OUTPUT = "scoring_metrics"

#: The catalog entry of the model pickle, whose file is hashed.
MODEL_DATASET = "anomaly_model"

#: Nodes with this tag write the run's report files.
REPORTING_TAG = "reporting"

#: Name of the logged model inside the run (``runs:/<run id>/anomaly_model``).
MODEL_NAME = "anomaly_model"

#: The file MLflow runs to build the model when it is loaded.
MODEL_CODE_FILE = Path(shape.__file__).parent / "mlflow_model_code.py"

#: Bounds on each request to a tracking server, unless the user set them.
#: MLflow's own defaults retry for minutes and wait 120 s per request.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

#: Seconds the tracking server has to answer the probe.
PROBE_TIMEOUT_S = 3.0

_SCORING_METRICS = ("rows", "anomalies", "inliers", "anomaly_rate")


class MlflowTrackingHook:
    """Adds this project's parameters, metrics, artifacts and model to the run.

    Args:
        timing: The project's ``StageTimingHook``, whose clocks give the
            seconds per stage.
    """

    def __init__(self, timing: StageTimingHook) -> None:
        self._timing = timing
        self._filepaths: dict[str, Mapping[str, Any]] = {}
        self._run_id: str | None = None
        self._captured: dict[str, Any] = {}
        self._previous_sigterm: Any = None
        # Registered after MLflow's own exit handler (mlflow is imported
        # above), so it runs first and MLflow finds the run ended already.
        atexit.register(self._end_interrupted_run)

    # tryfirst: the store must be settled before kedro-mlflow connects to it.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        _settle_tracking_store(context)

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        self._filepaths = {
            name: entry
            for name, entry in conf_catalog.items()
            if isinstance(entry, Mapping) and entry.get("filepath")
        }

    # trylast: kedro-mlflow's hook starts the MLflow run first.
    @hook_impl(trylast=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], catalog: DataCatalog
    ) -> None:
        self._captured = {}
        active = mlflow.active_run()
        self._run_id = active.info.run_id if active else None
        if self._run_id is None:
            return
        info = current_run()
        if info is not None:
            info.mlflow_run_id = self._run_id
        self._exit_on_sigterm()
        self._guarded(_log_start, self._run_id, run_params, catalog, self._model_file())

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        for name in (CHAIN_OUTPUT, ESTIMATOR_OUTPUT, METRICS_OUTPUT):
            if name in outputs:
                self._captured[name] = outputs[name]
        if READINGS_OUTPUT in outputs:
            # The logged model's input example. A pandas frame is cut now, so
            # that the whole table is not held to the end of the run; a lazy
            # stream or Spark frame is kept as it is and read when the model is
            # logged, after the last node (for Spark that is a job the nodes
            # need not wait for).
            readings = outputs[READINGS_OUTPUT]
            self._captured[READINGS_OUTPUT] = (
                _first_rows(readings)
                if isinstance(readings, pd.DataFrame)
                else readings
            )

    # tryfirst: the model is logged into the active run, which kedro-mlflow's
    # after_pipeline_run ends.
    @hook_impl(tryfirst=True)
    def after_pipeline_run(self, pipeline: Pipeline) -> None:
        if self._run_id is None:
            return
        self._guarded(
            _log_end,
            self._run_id,
            self._captured,
            dict(self._timing.durations),
            self._report_files(pipeline),
        )
        self._run_id = None
        self._restore_sigterm()

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._run_id is None:
            return
        self._guarded(
            MlflowClient().set_tag,
            self._run_id,
            "shape.error",
            redact(f"{type(error).__name__}: {error}")[:5000],
        )
        self._run_id = None
        self._restore_sigterm()

    def _exit_on_sigterm(self) -> None:
        # Python's default for SIGTERM ends the process without running exit
        # handlers; as SystemExit it unwinds like Ctrl-C, so outputs being
        # written are cleaned up and the exit handler below records the run.
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_exit)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _end_interrupted_run(self) -> None:
        # A run still open at exit was interrupted: no after_pipeline_run or
        # on_pipeline_error hook ran for it.
        if self._run_id is None:
            return
        run_id, self._run_id = self._run_id, None
        self._guarded(_mark_killed, run_id)

    def _guarded(self, log: Any, *args: Any) -> None:
        # Tracking is a record of the run, not part of it: a store that fails
        # part-way costs the record one warning, never the run its outputs.
        try:
            log(*args)
        except Exception as exc:  # see the comment above
            logger.warning(
                "MLflow run %s could not be fully recorded in %s: %s: %s",
                self._run_id,
                redact(mlflow.get_tracking_uri()),
                type(exc).__name__,
                redact(str(exc))[:500],
            )

    def _model_file(self) -> Path | None:
        entry = self._filepaths.get(MODEL_DATASET)
        path = Path(str(entry["filepath"])) if entry else None
        return path if path is not None and path.is_file() else None

    def _report_files(self, pipeline: Pipeline) -> list[Path]:
        run = current_run()
        files = []
        for node in pipeline.nodes:
            if REPORTING_TAG not in node.tags:
                continue
            for name in node.outputs:
                entry = self._filepaths.get(name)
                if entry is None:
                    continue
                path = Path(str(entry["filepath"]))
                if entry.get("versioned") and run is not None:
                    # Kedro saves version <run id>/<file name> under the path.
                    path = path / run.run_id / path.name
                if path.exists():
                    files.append(path)
        return files


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _mark_killed(run_id: str) -> None:
    MlflowClient().set_tag(
        run_id, "shape.error", "interrupted (Ctrl-C or a signal) before it finished"
    )
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status="KILLED")
    else:
        MlflowClient().set_terminated(run_id, status="KILLED")


def _settle_tracking_store(context: KedroContext) -> None:
    """Bounds waits on a remote store; falls back to the local one if it is down.

    A relative SQLite path is made absolute under the project folder, so the
    store is the same whatever the working directory, and its folder is made.
    When the URI changes, the new one is set on the config loader, which then
    hands it to kedro-mlflow instead of reading ``mlflow.yml``.
    """
    try:
        conf = context.config_loader["mlflow"]
    except (KeyError, MissingConfigException):
        return
    configured = (conf.get("server") or {}).get("mlflow_tracking_uri")
    uri = configured or LOCAL_TRACKING_URI

    if urlparse(uri).scheme in ("http", "https"):
        for name, value in HTTP_LIMITS.items():
            os.environ.setdefault(name, value)
        problem = _probe(uri)
        if problem is not None:
            logger.warning(
                "MLflow tracking server %s does not answer (%s); this run is "
                "recorded in the local store %s instead.",
                redact(uri),
                problem,
                LOCAL_TRACKING_URI,
            )
            uri = LOCAL_TRACKING_URI
    if uri.startswith("sqlite:///"):
        uri = _sqlite_under(Path(context.project_path), uri)

    if uri != configured:
        conf = copy.deepcopy(conf)
        conf.setdefault("server", {})["mlflow_tracking_uri"] = uri
        context.config_loader["mlflow"] = conf


def _sqlite_under(project_path: Path, uri: str) -> str:
    path, separator, query = uri.removeprefix("sqlite:///").partition("?")
    database = project_path / path
    # SQLite creates the database file but not its folder.
    database.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{database.as_posix()}{separator}{query}"


def _probe(uri: str) -> str | None:
    """None when the server answers anything at all, else why it did not.

    The probe goes to the URI's host and port without the ``user:password@``
    part, if the URI has one: urllib would take that part for the host name
    (and look the password up as one), and answering at all, even "401
    Unauthorized", is all the probe asks, so the credentials are not sent.
    """
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address goes back in brackets
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    health = urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", "")
    )
    try:
        with urllib.request.urlopen(  # http(s) only: checked by the caller
            health, timeout=PROBE_TIMEOUT_S
        ):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return redact(f"{type(reason).__name__}: {reason}")


def _log_start(
    run_id: str,
    run_params: Mapping[str, Any],
    catalog: DataCatalog,
    model_file: Path | None,
) -> None:
    parameters = catalog.load("parameters")
    params = {
        "engine": parameters.get("engine"),
        "fit_on": parameters.get("fit_on"),
        "input_path": redact(str(parameters.get("input_path"))),
    }
    if model_file is not None:
        params["model_sha256"] = hashlib.sha256(model_file.read_bytes()).hexdigest()
    client = MlflowClient()
    for key, value in params.items():
        client.log_param(run_id, key, value)
    info = current_run()
    shape_run_id = info.run_id if info else str(run_params["run_id"])
    client.set_tag(run_id, "shape.run_id", shape_run_id)


def _log_end(
    run_id: str,
    captured: Mapping[str, Any],
    durations: Mapping[str, float],
    report_files: list[Path],
) -> None:
    client = MlflowClient()
    chain = captured.get(CHAIN_OUTPUT)
    if isinstance(chain, FittedChain):
        for key, value in _chain_params(chain).items():
            client.log_param(run_id, key, value)

    metrics = dict(_duration_metrics(durations))
    scoring = captured.get(METRICS_OUTPUT) or {}
    metrics |= {
        name: float(scoring[name]) for name in _SCORING_METRICS if name in scoring
    }
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)

    for path in report_files:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), f"{REPORTING_TAG}/{path.name}")
        else:
            client.log_artifact(run_id, str(path), REPORTING_TAG)

    estimator = captured.get(ESTIMATOR_OUTPUT)
    if isinstance(chain, FittedChain) and estimator is not None:
        _log_model(chain, estimator, _first_rows(captured.get(READINGS_OUTPUT)))


def _duration_metrics(durations: Mapping[str, float]) -> dict[str, float]:
    """Seconds per stage as MLflow metrics: ``duration_s.<stage>`` and ``.total``."""
    metrics = {f"duration_s.{stage}": float(s) for stage, s in durations.items()}
    metrics["duration_s.total"] = float(sum(durations.values()))
    return metrics


def _chain_params(chain: FittedChain) -> dict[str, str]:
    params = {
        "chain.steps": ",".join(f"{s.name}:{s.transformer}" for s in chain.steps),
        "chain.fitted_by": chain.fitted_by,
        "chain.n_rows_fitted": str(chain.n_rows_fitted),
    }
    for step in chain.steps:
        for arg, value in step.args.items():
            params[f"chain.{step.name}.{arg}"] = str(value)
    return params


def _log_model(
    chain: FittedChain, estimator: Any, example: pd.DataFrame | None
) -> None:
    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]
    with tempfile.TemporaryDirectory(prefix="shape-model-") as folder:
        chain_file = Path(folder) / "fitted_chain.json"
        chain_file.write_text(json.dumps(chain.to_dict(), indent=1), encoding="utf-8")
        estimator_file = Path(folder) / "anomaly_model.pkl"
        estimator_file.write_bytes(pickle.dumps(estimator))

        mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=MODEL_CODE_FILE,
            artifacts={
                CHAIN_ARTIFACT: str(chain_file),
                ESTIMATOR_ARTIFACT: str(estimator_file),
            },
            # The model's code travels with it, so it loads where shape is not
            # installed; where shape is installed, the installed copy is used.
            code_paths=[str(Path(shape.__file__).parent)],
            # A conda env given in full: MLflow would otherwise look up pip's
            # version, which a uv-made environment does not have, and warn.
            conda_env={
                "name": "shape-scoring",
                "channels": ["conda-forge"],
                "dependencies": [
                    f"python={platform.python_version()}",
                    "pip",
                    {"pip": requirements},
                ],
            },
            signature=_signature(chain, example),
            input_example=example,
        )


def _signature(chain: FittedChain, example: pd.DataFrame | None) -> ModelSignature:
    # Declared rather than inferred: inference would type `prediction` from
    # the example and warn that integer columns cannot hold missing values.
    # The other columns of the readings (the time, as numbers or timestamps,
    # with or without a time zone) are declared optional and of any type, so a
    # raw table can be scored as it is and MLflow does not warn of inputs its
    # signature lacks. ("datetime" would refuse timestamps with a time zone.)
    features = [ColSpec("double", column) for column in chain.feature_columns]
    others = [
        ColSpec(AnyType(), str(column), required=False)
        for column in ([] if example is None else example.columns)
        if column not in chain.feature_columns
    ]
    return ModelSignature(
        inputs=Schema(features + others),
        outputs=Schema(
            [ColSpec("long", "prediction"), ColSpec("double", "anomaly_score")]
        ),
    )


def _first_rows(readings: Any, count: int = 5) -> pd.DataFrame | None:
    # Up to `count` readings as the model's input example; a Spark frame is
    # cut to those rows before it is brought to the driver.
    if isinstance(readings, pd.DataFrame):
        return readings.head(count).reset_index(drop=True)
    if isinstance(readings, ReadingBatches):
        # The sklearn engine's stream: its first batch, the only one read here.
        first = next(iter(readings), None)
        return None if first is None else first.head(count).reset_index(drop=True)
    if hasattr(readings, "limit") and hasattr(readings, "toPandas"):
        return readings.limit(count).toPandas()
    return None
