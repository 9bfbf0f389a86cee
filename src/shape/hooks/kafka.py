"""``KafkaEventsHook`` publishes the life of each run as JSON events on Kafka.

Four events, each a JSON object whose ``event`` field names it and which also
carries ``schema_version``, ``run_id`` (the message key, see
``shape.hooks.run_context``) and a UTC ``timestamp``:

- ``run_started``: engine, fit mode, input path, chain steps, pipelines;
- ``node_completed``: node, stage, seconds taken, rows of each table it wrote;
- ``run_completed``: rows, counts per class, anomaly rate, seconds per stage,
  where the outputs were written;
- ``run_failed``: the node that failed, the error's type and message.

Settings come from ``conf/base/kafka.yml``; ``KAFKA_BOOTSTRAP_SERVERS`` and
``KAFKA_TOPIC`` override them. Without a broker configured the hook does
nothing. Every wait on the broker is bounded: if it cannot be reached, the run
goes on, one warning is logged, and the events that were not acknowledged are
appended to a JSON-lines spool file (one event per line, the message value as
it would have been sent) so that none is lost.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata
from kafka.serializer import DefaultSerializer, JsonSerializer
from kedro.config import AbstractConfigLoader, MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from shape.chain import parse_chain_spec, seed_chain_steps
from shape.hooks.redact import redact
from shape.hooks.run_context import current_run
from shape.hooks.timing import STAGES, StageTimingHook

logger = logging.getLogger(__name__)

#: Version of the event layout; raise it when a field changes meaning or goes.
SCHEMA_VERSION = 1

#: Key of the settings in the configuration loader (``conf/*/kafka.yml``).
CONFIG_KEY = "kafka"

#: The node output holding the run's metrics (``compute_metrics``).
METRICS_OUTPUT = "scoring_metrics"


@dataclass(frozen=True)
class KafkaSettings:
    """Where events go and how long the producer may wait.

    Attributes:
        bootstrap_servers: ``host:port`` list, comma-separated; None for off.
        topic: Topic the events are sent to.
        spool_path: JSON-lines file that receives the events not sent.
        client_id: Name the producer gives itself to the broker.
        api_version: Kafka protocol version spoken; fixed, so that creating
            the producer never waits on a version probe.
        block_s: Longest a send may wait for the topic's metadata.
        request_s: Longest one request may wait for the broker's answer.
        close_s: Longest the end of the run waits for events to be delivered.
    """

    bootstrap_servers: str | None
    topic: str
    spool_path: Path
    client_id: str = "shape"
    api_version: tuple[int, ...] = (2, 8)
    block_s: float = 5.0
    request_s: float = 5.0
    close_s: float = 5.0

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> KafkaSettings:
        """Reads the settings from the mapping of ``kafka.yml``.

        Raises:
            ValueError: When ``topic`` or ``spool_path`` is missing, or
                ``api_version`` is not like ``"2.8"``.
        """
        for key in ("topic", "spool_path"):
            if not conf.get(key):
                raise ValueError(
                    f"Setting '{key}' is missing from conf/*/kafka.yml; "
                    "see docs/hooks.md."
                )
        timeouts = conf.get("timeouts_s") or {}
        return cls(
            bootstrap_servers=conf.get("bootstrap_servers") or None,
            topic=str(conf["topic"]),
            spool_path=Path(conf["spool_path"]),
            client_id=str(conf.get("client_id", "shape")),
            api_version=_parse_version(str(conf.get("api_version", "2.8"))),
            block_s=float(timeouts.get("block", 5)),
            request_s=float(timeouts.get("request", 5)),
            close_s=float(timeouts.get("close", 5)),
        )


def _parse_version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError as exc:
        raise ValueError(
            "Setting 'api_version' of conf/*/kafka.yml must be a Kafka "
            f"protocol version such as '2.8'; got {text!r}."
        ) from exc


def _read_settings(config_loader: AbstractConfigLoader) -> KafkaSettings | None:
    """The Kafka settings of the project, or None when events are off.

    ``KAFKA_BOOTSTRAP_SERVERS`` and ``KAFKA_TOPIC`` are read by ``kafka.yml``
    itself (``${oc.env:...}``); an empty value counts as unset.
    """
    try:
        conf = config_loader[CONFIG_KEY]
    except (KeyError, MissingConfigException):
        return None
    settings = KafkaSettings.from_config(conf)
    return settings if settings.bootstrap_servers else None


class KafkaEventsHook:
    """Sends ``run_started``, ``node_completed``, ``run_completed`` and
    ``run_failed`` events; see the module docstring for their fields.

    Args:
        timing: The project's ``StageTimingHook``, whose clocks give the
            seconds per node and per stage.
    """

    def __init__(self, timing: StageTimingHook) -> None:
        self._timing = timing
        self._settings: KafkaSettings | None = None
        self._filepaths: dict[str, str] = {}
        self._run: _RunEvents | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._settings = _read_settings(context.config_loader)

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        self._filepaths = _filepaths(conf_catalog)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], catalog: DataCatalog
    ) -> None:
        if self._settings is None:
            logger.info("Kafka run events are off: KAFKA_BOOTSTRAP_SERVERS is not set.")
            self._run = None
            return
        # The run id fixed by RunContextHook, which runs first: the session id,
        # or the `run_id` runtime parameter, as in the database.
        info = current_run()
        run_id = info.run_id if info else str(run_params["run_id"])
        self._run = _RunEvents(self._settings, run_id)
        self._run.send(
            "run_started",
            **_run_started_fields(catalog.load("parameters"), run_params),
        )

    # trylast: the timing hook must have stopped this node's clock first.
    @hook_impl(trylast=True)
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if self._run is None:
            return
        if METRICS_OUTPUT in outputs:
            self._run.metrics = outputs[METRICS_OUTPUT]
        self._run.send(
            "node_completed",
            node=node.name,
            stage=_stage_of(node),
            duration_s=round(self._timing.node_durations.get(node.name, 0.0), 6),
            rows=_rows_per_output(outputs),
        )

    # A node whose input cannot be loaded fails before it runs, and Kedro
    # calls no node hook for it; the last node that loaded a dataset is the
    # one to blame then.
    @hook_impl
    def before_dataset_loaded(self, node: Node) -> None:
        if self._run is not None:
            self._run.current_node = node.name

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        if self._run is not None:
            self._run.current_node = node.name

    @hook_impl
    def after_pipeline_run(self, pipeline: Pipeline) -> None:
        if self._run is None:
            return
        self._run.send(
            "run_completed",
            **_run_completed_fields(
                self._run.metrics,
                self._durations(),
                {name: self._filepaths.get(name) for name in pipeline.all_outputs()},
            ),
        )
        self._close()

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._run is None:
            return
        self._run.send(
            "run_failed",
            node=self._run.current_node,
            error_type=type(error).__name__,
            message=redact(str(error)),
            durations_s=self._durations(),
        )
        logger.error(
            "Run %s failed in node %s; its run_failed event carries this error:\n%s",
            self._run.run_id,
            self._run.current_node,
            redact("".join(traceback.format_exception(error))),
        )
        self._close()

    def _durations(self) -> dict[str, float]:
        durations = {
            stage: round(seconds, 6)
            for stage, seconds in self._timing.durations.items()
        }
        durations["total"] = round(sum(self._timing.node_durations.values()), 6)
        return durations

    def _close(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.close()


class _RunEvents:
    """The events of one run: a producer with bounded waits, and the spool.

    Events are sent without waiting for each acknowledgement. At ``close`` the
    producer is flushed and closed within ``close_s``; every event whose
    delivery was not acknowledged by then is appended to the spool file. Once
    the broker has failed, later events of the run go to the spool directly,
    so a dead broker costs one ``block_s`` wait per run, not one per event.
    """

    def __init__(self, settings: KafkaSettings, run_id: str) -> None:
        self.run_id = run_id
        self.metrics: Mapping[str, Any] | None = None
        #: The node running, or whose inputs are loading; named by run_failed.
        self.current_node: str | None = None
        self._settings = settings
        self._sent: list[tuple[dict[str, Any], FutureRecordMetadata | None]] = []
        self._failure: str | None = None
        self._producer: KafkaProducer | None = None
        try:
            self._producer = _create_producer(settings)
        except Exception as exc:  # any failure means "spool"
            self._fail(exc)

    def send(self, event: str, **fields: Any) -> None:
        """Sends one event, or keeps it for the spool once the broker failed."""
        message = _envelope(event, self.run_id) | fields
        future = None
        if self._producer is not None and self._failure is None:
            try:
                future = self._producer.send(
                    self._settings.topic, key=self.run_id, value=message
                )
            except Exception as exc:  # any failure means "spool"
                self._fail(exc)
        self._sent.append((message, future))

    def close(self) -> None:
        """Delivers what it can within ``close_s``; spools the rest."""
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self._settings.close_s)
            except Exception as exc:  # any failure means "spool"
                self._fail(exc)
            try:
                self._producer.close(timeout=self._settings.close_s)
            except Exception as exc:  # closing must not fail a run
                self._fail(exc)
            self._producer = None

        unsent = []
        for message, future in self._sent:
            if future is None or not future.succeeded():
                if future is not None:
                    self._fail(future.exception or "no acknowledgement in time")
                unsent.append(message)
        if unsent:
            _append_lines(self._settings.spool_path, unsent)
            logger.info(
                "Appended %d unsent Kafka events of run %s to %s",
                len(unsent),
                self.run_id,
                self._settings.spool_path,
            )
        else:
            logger.info(
                "Sent %d events of run %s to Kafka topic '%s'",
                len(self._sent),
                self.run_id,
                self._settings.topic,
            )

    def _fail(self, reason: BaseException | str) -> None:
        if self._failure is not None:
            return
        if isinstance(reason, BaseException):
            name = type(reason).__name__
            # kafka-python's errors already start with their class name.
            text = str(reason)
            reason = text if text.startswith(name) else f"{name}: {text}"
        self._failure = redact(reason)
        logger.warning(
            "Kafka broker %s did not take the events of run %s (%s); the "
            "run goes on and unsent events are appended to %s.",
            redact(self._settings.bootstrap_servers or ""),
            self.run_id,
            self._failure,
            self._settings.spool_path,
        )


def _create_producer(settings: KafkaSettings) -> KafkaProducer:
    request_ms = int(settings.request_s * 1000)
    return KafkaProducer(
        bootstrap_servers=[
            server.strip()
            for server in (settings.bootstrap_servers or "").split(",")
            if server.strip()
        ],
        client_id=settings.client_id,
        api_version=settings.api_version,
        acks="all",
        max_block_ms=int(settings.block_s * 1000),
        request_timeout_ms=request_ms,
        delivery_timeout_ms=2 * request_ms,
        reconnect_backoff_max_ms=1000,
        key_serializer=DefaultSerializer(),  # str keys as UTF-8
        value_serializer=JsonSerializer(),
    )


def _envelope(event: str, run_id: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "event": event,
        "run_id": run_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _run_started_fields(
    parameters: Mapping[str, Any], run_params: Mapping[str, Any]
) -> dict[str, Any]:
    preprocessing = parameters.get("preprocessing") or {}
    try:
        # With the seed the fit gives a QuantileTransformer that names none, so
        # the event shows the arguments the chain is fitted with (as MLflow
        # records them).
        steps = seed_chain_steps(
            parse_chain_spec(preprocessing.get("chain")),
            preprocessing.get("random_seed", 0),
        )
        chain = [
            {"step": step.name, "transformer": step.transformer, "args": step.args}
            for step in steps
        ]
    except (ValueError, FileNotFoundError, TypeError):
        # The parameter check stops such a run before this hook; an event
        # without the chain beats no event if that order ever changes.
        chain = None
    return {
        "engine": parameters.get("engine"),
        "fit_on": parameters.get("fit_on"),
        "input_path": redact(str(parameters.get("input_path"))),
        "time_column": preprocessing.get("time_column"),
        "feature_columns": preprocessing.get("feature_columns"),
        "chain": chain,
        "pipelines": run_params.get("pipeline_names") or ["__default__"],
    }


def _run_completed_fields(
    metrics: Mapping[str, Any] | None,
    durations: dict[str, float],
    outputs: Mapping[str, str | None],
) -> dict[str, Any]:
    info = current_run()
    fields: dict[str, Any] = {
        "rows": None,
        "counts": None,
        "anomaly_rate": None,
    }
    if metrics is not None:
        fields = {
            "rows": metrics.get("rows"),
            "counts": {
                "inlier": metrics.get("inliers"),
                "anomaly": metrics.get("anomalies"),
            },
            "anomaly_rate": metrics.get("anomaly_rate"),
        }
    return fields | {
        "durations_s": durations,
        "outputs": {
            name: redact(path) for name, path in sorted(outputs.items()) if path
        },
        "mlflow_run_id": info.mlflow_run_id if info else None,
    }


def _stage_of(node: Node) -> str | None:
    return next((stage for stage in STAGES if stage in node.tags), None)


def _rows_per_output(outputs: Mapping[str, Any]) -> dict[str, int]:
    # Only pandas frames, and the row counts validate_readings returns, know
    # their length for free. Counting a Spark frame would run a Spark job, and
    # counting a stream of batches would read it, just for the event, so their
    # rows are left out.
    rows = {}
    for name, data in outputs.items():
        if type(data).__module__.startswith("pandas") and hasattr(data, "shape"):
            rows[name] = int(data.shape[0])
        elif isinstance(data, Mapping) and isinstance(data.get("rows"), int):
            rows[name] = data["rows"]
    return rows


def _filepaths(conf_catalog: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(entry["filepath"])
        for name, entry in conf_catalog.items()
        if isinstance(entry, Mapping) and entry.get("filepath")
    }


def _append_lines(path: Path, messages: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(message) + "\n" for message in messages)
    # One write of whole lines, then fsync: a crash leaves whole events only.
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
