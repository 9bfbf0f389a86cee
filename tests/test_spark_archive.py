"""``shape.spark_archive``: the archive of the Spark driver's classes.

Building one runs a real Spark job in a child process; the archive is then
checked by starting a JVM with ``-Xshare:on``, which refuses to start when the
archive it is given cannot be mapped (plain runs would silently go without).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shape.spark_archive import with_archive
from tests.conftest import PROJECT_ROOT

LOG4J = "-Dlog4j2.configurationFile=conf/base/spark-log4j2.properties"


def test_options_name_an_existing_archive(tmp_path):
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"stand-in")
    conf = {"spark.master": "local[1]", "spark.driver.extraJavaOptions": LOG4J}

    result = with_archive(conf, archive)

    assert result == {
        "spark.master": "local[1]",
        "spark.driver.extraJavaOptions": f"{LOG4J} -XX:SharedArchiveFile={archive} "
        "-Xlog:cds*=off",
    }
    # The caller's configuration is left as it was.
    assert conf["spark.driver.extraJavaOptions"] == LOG4J


def test_no_archive_no_option(tmp_path):
    conf = {"spark.master": "local[1]"}

    result = with_archive(conf, tmp_path / "missing.jsa")

    assert result == conf
    assert result is not conf


@pytest.mark.parametrize(
    "options",
    ["-XX:SharedArchiveFile=/opt/mine.jsa", "-XX:ArchiveClassesAtExit=/tmp/new.jsa"],
)
def test_an_archive_the_user_names_is_kept(tmp_path, options):
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"stand-in")

    result = with_archive({"spark.driver.extraJavaOptions": options}, archive)

    assert result == {"spark.driver.extraJavaOptions": options}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _count_with_archive(archive: Path) -> subprocess.CompletedProcess:
    """Starts a session through start_session with ``archive`` strictly required."""
    return _python(
        f"""
        from pathlib import Path
        import shape.spark_archive
        from shape.hooks.spark import start_session

        shape.spark_archive.ARCHIVE = Path({str(archive)!r})
        session = start_session({{
            "spark.master": "local[1]",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.driver.extraJavaOptions": "{LOG4J} -Xshare:on",
        }})
        print("rows:", session.range(3).count())
        session.stop()
        """
    )


def _dead_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_built_archive_is_mapped_by_the_driver_jvm(tmp_path):
    archive = tmp_path / "archive" / "classes.jsa"
    archive.parent.mkdir()
    # Left by a build killed earlier, whose process is gone.
    stale = archive.with_name(f".classes.jsa.{_dead_process_id()}.partial")
    stale.write_bytes(b"half an archive")

    built = subprocess.run(
        [sys.executable, "-m", "shape.spark_archive", "--output", str(archive)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert built.returncode == 0, built.stderr
    assert "Wrote the Spark class archive" in built.stderr
    # Only the archive is left: the partial file was moved into place, the
    # stale one removed.
    assert [path.name for path in archive.parent.iterdir()] == ["classes.jsa"]
    assert archive.stat().st_size > 10_000_000
    # Nothing of the JVM's class-sharing notes reaches the output.
    assert "[cds" not in built.stdout + built.stderr

    used = _count_with_archive(archive)
    assert used.returncode == 0, used.stdout + used.stderr
    assert "rows: 3" in used.stdout


def test_a_damaged_archive_stops_a_jvm_that_requires_it(tmp_path):
    # The control of the test above: -Xshare:on does refuse what it cannot map.
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"not an archive" * 1000)

    used = _count_with_archive(archive)

    assert used.returncode != 0
    assert "rows: 3" not in used.stdout


def test_building_outside_the_project_says_where_to_run_it(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "shape.spark_archive", "--output", "x.jsa"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert built.returncode == 1
    assert f"{tmp_path} is not the shape project's root" in built.stderr
    assert "Run it from the project root" in built.stderr
    assert list(tmp_path.iterdir()) == []
