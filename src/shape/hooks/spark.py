"""``SparkSessionHook`` gives ``engine: sparkml`` runs one Spark session.

The session is built from the ``spark`` configuration (``conf/base/spark.yml``,
overridden per environment, e.g. ``conf/cluster/spark.yml``) just before the
first node runs, and stopped when the run ends, whether it succeeds or fails.
Runs with another engine read no Spark configuration and start no JVM.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from shape.spark_archive import with_archive

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

#: The ``engine`` parameter value that needs Spark.
SPARK_ENGINE = "sparkml"

#: Spark property naming the executors' Python; exported as PYSPARK_PYTHON.
PYTHON_PROPERTY = "spark.pyspark.python"


class SparkSessionHook:
    """Starts the Spark session of a ``sparkml`` run and stops it at the end.

    A session that is already active when the run starts (a notebook's, or a
    test's) is used as it is and left running: this hook stops only the
    session it started.
    """

    def __init__(self) -> None:
        self._spark_conf: dict[str, str] | None = None
        self._session: SparkSession | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Reads the Spark configuration when the run's engine is ``sparkml``."""
        self._spark_conf = None
        if context.params.get("engine") == SPARK_ENGINE:
            self._spark_conf = read_spark_conf(context.config_loader)

    # After the parameter check (when the context was created) and the inputs
    # check (PipelineInputsHook), so that no JVM starts for a run they refuse;
    # before the MLflow run and the Kafka producer open, so that a JVM that
    # cannot start leaves no MLflow run or Kafka events behind (no error hook
    # runs for a failure here). settings.HOOKS registers this hook first for
    # that order.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        """Starts the session, unless one is active already."""
        if self._spark_conf is not None and self._session is None:
            self._session = start_session(self._spark_conf)

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Stops the session this hook started."""
        self._stop()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Stops the session this hook started."""
        self._stop()

    def _stop(self) -> None:
        if self._session is not None:
            self._session.stop()
            logger.info("Stopped the Spark session")
            self._session = None


def read_spark_conf(config_loader: Any) -> dict[str, str]:
    """The ``spark`` configuration as Spark property strings."""
    try:
        config = config_loader["spark"]
    except MissingConfigException as exc:
        raise MissingConfigException(
            "Parameter 'engine' is 'sparkml' but no Spark configuration was "
            "found; expected conf/base/spark.yml (or spark.yml in the run's "
            "environment) with at least `spark.master`."
        ) from exc
    return {str(key): _spark_value(value) for key, value in config.items()}


def _spark_value(value: Any) -> str:
    # YAML's true/false arrive as Python booleans; Spark expects lower case.
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def start_session(spark_conf: dict[str, str]) -> SparkSession | None:
    """Builds a Spark session from Spark properties.

    Args:
        spark_conf: Spark property names and values, such as ``spark.master``.
            ``spark.pyspark.python`` (the executors' Python) defaults to
            ``PYSPARK_PYTHON`` when set, else to the interpreter running this
            code; it is exported as ``PYSPARK_PYTHON``, which is where PySpark
            reads it from. When ``make spark-archive`` has built the archive
            of the driver's classes, the driver JVM is told to map it
            (``shape.spark_archive``).

    Returns:
        The new session, or None when a session was already active; that one is
        left as it is.

    Raises:
        RuntimeError: When ``spark.master`` is a standalone master
            (``spark://``) that accepts no connection, before any JVM starts
            (Spark itself would retry for over a minute and end in a Java stack
            trace); when the driver JVM exits before it starts (a Java option
            it refuses, too little memory, no Java, a master URL Spark does
            not know), naming the settings to look at, below Java's own
            reason.
    """
    from pyspark.errors import PySparkRuntimeError  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415 (no JVM for sklearn)

    active = SparkSession.getActiveSession()
    if active is not None:
        logger.info(
            "Using the Spark session already active (master %s); "
            "the spark configuration is not applied",
            active.sparkContext.master,
        )
        return None

    _check_standalone_master(spark_conf.get("spark.master", ""))
    conf = with_archive(spark_conf)
    python = conf.get(PYTHON_PROPERTY) or os.environ.get("PYSPARK_PYTHON")
    conf[PYTHON_PROPERTY] = python or sys.executable
    os.environ["PYSPARK_PYTHON"] = conf[PYTHON_PROPERTY]

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        if exc.getCondition() != "JAVA_GATEWAY_EXITED":
            raise
        raise RuntimeError(_jvm_did_not_start(spark_conf)) from exc
    logger.info(
        "Started Spark %s session '%s' on %s",
        session.version,
        session.sparkContext.appName,
        session.sparkContext.master,
    )
    return session


def _jvm_did_not_start(conf: dict[str, str]) -> str:
    # Spark launches the JVM with -XX:+IgnoreUnrecognizedVMOptions, so an
    # unknown option does not get here, but a known one with a bad value does.
    return (
        "The Spark driver's JVM exited before it started; Java's reason is "
        "printed above. Check the driver settings of the run's Spark "
        "configuration (conf/base/spark.yml, or spark.yml in the run's "
        f"environment): spark.master is '{conf.get('spark.master', 'not set')}' "
        "(--params=spark_master=... sets it), spark.driver.extraJavaOptions "
        f"'{conf.get('spark.driver.extraJavaOptions', '')}' and "
        f"spark.driver.memory '{conf.get('spark.driver.memory', 'not set')}'; "
        "and that Java 17 or newer is installed (JAVA_HOME is "
        f"'{os.environ.get('JAVA_HOME', 'not set')}')."
    )


#: Port of a standalone master whose URL names none.
_STANDALONE_PORT = 7077

#: Seconds to wait for a standalone master to accept a connection.
_MASTER_CONNECT_TIMEOUT_S = 5.0


def _check_standalone_master(master: str) -> None:
    """Raises when a ``spark://`` master accepts no connection at any address.

    A URL may list several masters (``spark://host1:7077,host2:7077``, for a
    standby); one that answers is enough.
    """
    if not master.startswith("spark://"):
        return
    failures = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            host, port = address.strip(), str(_STANDALONE_PORT)
        try:
            socket.create_connection(
                (host.strip("[]"), int(port)), timeout=_MASTER_CONNECT_TIMEOUT_S
            ).close()
            return
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc.strerror or exc}")
    raise RuntimeError(
        f"The Spark master '{master}' (spark.master; set with "
        "--params=spark_master=spark://HOST:PORT or in conf/<env>/spark.yml) "
        f"accepts no connection: {'; '.join(failures)}. Start the master, or "
        "point spark.master at one that runs."
    )
