"""A class-data-sharing archive of the Spark driver's classes.

A Spark driver JVM loads, parses and verifies several thousand classes before
the first row is read; on the two-core machine of docs/benchmarks.md that was
about 7 s of processor time and 4.5 s of a run's wall time. Java can map
classes it loaded once from an archive instead (application class-data
sharing, JDK 13 and later); with one, starting the session took 2.8 s and the
first jobs ran faster too (docs/spark.md, "Performance").

``make spark-archive`` (run by ``make test``) builds the archive with this
module: a JVM started with ``-XX:ArchiveClassesAtExit`` runs a small job
through the Spark engine and writes the classes it loaded when it exits. The
archive lives in the virtual environment (``ARCHIVE``), because it belongs to
the installed pyspark jars and the JDK rather than to the project's data, and
``shape.hooks.spark.start_session`` hands it to every driver JVM it starts.

A JVM that cannot use the archive (it was built by another JDK, the driver's
class path has other jars, or the file was damaged: the JVM checks its
checksums) starts without it, as it would with no archive; ``-Xlog:cds*=off``
keeps it from saying so on every run. An archive whose size is not the one
its build recorded beside it is not handed to the JVM at all. Rebuild the
archive after changing the JDK or pyspark: ``make spark-archive``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Where ``make spark-archive`` writes the archive and where sessions look for it.
ARCHIVE = Path(sys.prefix) / "share" / "shape" / "spark-driver-classes.jsa"

#: JVM option naming the archive to map at start-up.
_USE_OPTION = "-XX:SharedArchiveFile="

#: JVM option naming the archive to write at exit.
_WRITE_OPTION = "-XX:ArchiveClassesAtExit="

#: Has the JVM check the archive's checksums before it maps it: an archive
#: damaged after it was written is then left out instead of crashing the JVM
#: (the check costs no measurable time at start-up).
_VERIFY = "-XX:+VerifySharedSpaces"

#: Turns off the JVM's notes about class-data sharing: when an archive is
#: unusable it says so on standard output and starts without it, and while
#: writing one it lists every class it leaves out (signed jars, old classes).
_QUIET = "-Xlog:cds*=off"

_JAVA_OPTIONS = "spark.driver.extraJavaOptions"

#: Rows of the table the archive's job runs on: enough for two Arrow batches.
_JOB_ROWS = 2_000


def with_archive(
    spark_conf: dict[str, str], archive: Path | None = None
) -> dict[str, str]:
    """A copy of ``spark_conf`` with the driver JVM told to map ``archive``.

    ``archive`` defaults to ``ARCHIVE``. The copy is unchanged when the archive
    is missing, when its size is not the one its build recorded (a cut file
    would crash the JVM, which checks the checksums of what it maps but not the
    file's length), or when the driver's Java options already name an archive
    (to use or to write).
    """
    archive = ARCHIVE if archive is None else archive
    options = spark_conf.get(_JAVA_OPTIONS, "")
    if (
        not _is_whole(archive)
        or "SharedArchiveFile" in options
        or "ArchiveClassesAtExit" in options
    ):
        return dict(spark_conf)
    added = f"{_USE_OPTION}{archive} {_VERIFY} {_QUIET}"
    return {**spark_conf, _JAVA_OPTIONS: f"{options} {added}".strip()}


def _size_record(archive: Path) -> Path:
    """The file holding the archive's size in bytes, written by its build."""
    return archive.with_name(f"{archive.name}.size")


def _is_whole(archive: Path) -> bool:
    try:
        recorded = _size_record(archive).read_text("ascii").strip()
        return archive.stat().st_size == int(recorded)
    except (OSError, ValueError):
        return False


def build(spark_conf: dict[str, str], archive: Path = ARCHIVE) -> Path:
    """Writes the archive of the classes a local Spark run loads.

    Starts a Spark driver in this process with ``spark_conf`` (its master set
    to ``local[*]``), runs the Spark engine's fit, scoring and reporting on a
    small random table, then ends the JVM, which writes the archive as it
    exits. The archive is written beside ``archive`` and moved into place
    only when complete.

    Must run in a process without a Spark session: the JVM it starts is the
    one whose classes are archived, and it is ended at the end.

    Returns:
        ``archive``.
    """
    from pyspark import SparkContext  # noqa: PLC0415 (a JVM only when asked)

    from shape.hooks.spark import start_session  # noqa: PLC0415

    if SparkContext._active_spark_context is not None:
        raise RuntimeError(
            "The Spark class archive must be built in a process without a Spark "
            "session; run `python -m shape.spark_archive`."
        )
    # The project's atomic writes: a hidden partial file beside the archive,
    # moved into place on success, and partials of killed builds cleared (a
    # killed build's JVM still writes its partial as it exits). Imported here:
    # the datasets package is too heavy for start_session's module to load.
    from shape.datasets.atomic import atomic_write  # noqa: PLC0415

    with atomic_write(archive) as partial:
        # Fails now, naming the folder, rather than after the job when the JVM
        # cannot create the file.
        partial.touch()
        partial.unlink()
        options = spark_conf.get(_JAVA_OPTIONS, "")
        conf = {
            **spark_conf,
            "spark.master": "local[*]",
            _JAVA_OPTIONS: f"{options} {_WRITE_OPTION}{partial} {_QUIET}".strip(),
        }
        session = start_session(conf)
        if session is None:  # pragma: no cover - guarded above
            raise RuntimeError("A Spark session was already active.")
        try:
            with tempfile.TemporaryDirectory(prefix="shape-spark-archive-") as folder:
                _run_engine_job(session, Path(folder))
        finally:
            session.stop()
            # The JVM writes the archive as it exits, also after a failed job;
            # it must be gone before a failed build's partial file is removed.
            _end_jvm()
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RuntimeError(
                f"The JVM wrote no class archive to {partial}; its own message, "
                "if any, is above (archives need Java 13 or later)."
            )
        size = partial.stat().st_size
    with atomic_write(_size_record(archive)) as record:
        record.write_text(f"{size}\n", "ascii")
    return archive


def _run_engine_job(session: Any, folder: Path) -> None:
    """Fits, scores and reports on a small random table with the Spark engine."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    from sklearn.svm import OneClassSVM  # noqa: PLC0415

    from shape.chain import parse_chain_spec  # noqa: PLC0415
    from shape.engines import sklearn_engine, spark_engine  # noqa: PLC0415

    columns = ["vibration_x", "vibration_y", "vibration_z"]
    values = np.random.default_rng(0).normal(size=(_JOB_ROWS, len(columns)))
    table = pd.DataFrame(values, columns=columns)
    table.insert(0, "time", np.arange(_JOB_ROWS, dtype="float64"))
    table.to_parquet(folder / "readings.parquet", index=False)

    # The kind of chain the challenge uses: 3 -> 10 -> 10 -> 66 -> 66.
    steps = parse_chain_spec(
        {
            "expand": {"PolynomialFeatures": {"degree": 2}},
            "quantiles": {"QuantileTransformer": {"n_quantiles": 100}},
            "expand_again": {"PolynomialFeatures": {"degree": 2}},
            "scale": {"StandardScaler": {}},
        }
    )
    readings = spark_engine.select_readings(
        session.read.parquet(str(folder / "readings.parquet")), "time", columns
    )
    check = spark_engine.check_readings(readings, columns)
    split = spark_engine.split_invalid_rows(
        readings, columns, any_invalid=check["invalid_rows"] > 0
    )
    split["rejected"].write.parquet(str(folder / "rejected.parquet"))
    chain = spark_engine.fit_chain(split["valid"], steps, columns)
    model = OneClassSVM(gamma="scale").fit(
        sklearn_engine.array_pipeline(chain.steps)(values[:200])
    )
    model_input = spark_engine.transform_readings(split["valid"], chain)
    predictions = spark_engine.score_features(model_input, model, chain.n_features_out)
    predictions.write.parquet(str(folder / "predictions.parquet"))
    scored = session.read.parquet(str(folder / "predictions.parquet"))
    spark_engine.count_predictions(scored)
    spark_engine.select_anomalies(scored, "time", columns)
    spark_engine.sample_for_plots(scored, 100, 100)


def _end_jvm() -> None:
    """Ends the JVM behind PySpark and waits for it, so that it writes the archive.

    PySpark's gateway JVM exits when its standard input closes (the driver
    process ending closes it too); ``SparkContext`` then forgets the gateway,
    so a later session in this process would start a new JVM.
    """
    from pyspark import SparkContext  # noqa: PLC0415

    gateway = SparkContext._gateway
    if gateway is None:  # pragma: no cover - the session above made one
        return
    process = gateway.proc
    gateway.shutdown()
    process.stdin.close()
    process.wait(timeout=300)
    SparkContext._gateway = None
    SparkContext._jvm = None


def main(argv: list[str] | None = None) -> None:
    """``python -m shape.spark_archive [--output PATH]``, from the project root."""
    parser = argparse.ArgumentParser(
        prog="python -m shape.spark_archive",
        description="Build the class-data-sharing archive of the Spark driver "
        "that sparkml runs start with.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ARCHIVE,
        help=f"where to write the archive (default: {ARCHIVE})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    archive = build(_project_spark_conf(), args.output)
    size_mb = archive.stat().st_size / 1e6
    logger.info("Wrote the Spark class archive %s (%.0f MB)", archive, size_mb)


def _project_spark_conf() -> dict[str, str]:
    """The Spark properties of the project in the working folder (base and local)."""
    from kedro.framework.project import settings  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from shape.hooks.spark import read_spark_conf  # noqa: PLC0415

    try:
        bootstrap_project(Path.cwd())
    except RuntimeError as exc:
        raise SystemExit(
            f"{Path.cwd()} is not the shape project's root: this command reads "
            "the Spark configuration of the project in the working folder "
            f"(conf/base/spark.yml). Run it from the project root. ({exc})"
        ) from exc
    conf_source = str(Path.cwd() / settings.CONF_SOURCE)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=conf_source, **settings.CONFIG_LOADER_ARGS
    )
    return read_spark_conf(loader)


if __name__ == "__main__":
    main()
