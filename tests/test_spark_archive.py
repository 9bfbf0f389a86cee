"""``shape.spark_archive``: the archive of the Spark driver's classes.

Building one runs a real Spark job in a child process; the archive is then
checked by starting a JVM with ``-Xshare:on``, which refuses to start when the
archive it is given cannot be mapped (plain runs would silently go without).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shape.spark_archive import with_archive
from tests.conftest import PROJECT_ROOT

LOG4J = "-Dlog4j2.configurationFile=conf/base/spark-log4j2.properties"


def _stand_in(folder: Path, recorded_size: int | None = None) -> Path:
    """An archive file and the size record its build would write beside it."""
    archive = folder / "classes.jsa"
    archive.write_bytes(b"stand-in")
    size = len(b"stand-in") if recorded_size is None else recorded_size
    (folder / "classes.jsa.size").write_text(f"{size}\n", "ascii")
    return archive


def test_options_name_an_existing_archive(tmp_path):
    archive = _stand_in(tmp_path)
    conf = {"spark.master": "local[1]", "spark.driver.extraJavaOptions": LOG4J}

    result = with_archive(conf, archive)

    assert result == {
        "spark.master": "local[1]",
        "spark.driver.extraJavaOptions": f"{LOG4J} -XX:SharedArchiveFile={archive} "
        "-XX:+VerifySharedSpaces -Xlog:cds*=off",
    }
    # The caller's configuration is left as it was.
    assert conf["spark.driver.extraJavaOptions"] == LOG4J


def test_no_archive_no_option(tmp_path):
    conf = {"spark.master": "local[1]"}

    result = with_archive(conf, tmp_path / "missing.jsa")

    assert result == conf
    assert result is not conf


def test_an_archive_of_another_size_than_recorded_is_not_used(tmp_path):
    # A cut archive would crash the JVM: its size no longer matches the record.
    conf = {"spark.master": "local[1]"}

    assert with_archive(conf, _stand_in(tmp_path, recorded_size=9)) == conf


def test_an_archive_without_its_size_record_is_not_used(tmp_path):
    archive = _stand_in(tmp_path)
    (tmp_path / "classes.jsa.size").unlink()

    assert with_archive({"spark.master": "local[1]"}, archive) == {
        "spark.master": "local[1]"
    }


@pytest.mark.parametrize(
    "options",
    ["-XX:SharedArchiveFile=/opt/mine.jsa", "-XX:ArchiveClassesAtExit=/tmp/new.jsa"],
)
def test_an_archive_the_user_names_is_kept(tmp_path, options):
    archive = _stand_in(tmp_path)

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


def _count_with_archive(
    archive: Path, java_options: str = ""
) -> subprocess.CompletedProcess:
    """Counts 3 rows in a session from start_session with ``archive`` as ARCHIVE.

    With ``-Xshare:on`` in ``java_options`` the JVM refuses to start unless it
    maps the archive.
    """
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
            "spark.driver.extraJavaOptions": "{LOG4J} {java_options}",
        }})
        print("rows:", session.range(3).count())
        session.stop()
        """
    )


def _dead_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """An archive built by ``python -m shape.spark_archive``, and its output."""
    archive = tmp_path_factory.mktemp("archive") / "classes.jsa"
    # Left by a build killed earlier, whose process is gone.
    stale = archive.with_name(f".classes.jsa.{_dead_process_id()}.partial")
    stale.write_bytes(b"half an archive")

    result = subprocess.run(
        [sys.executable, "-m", "shape.spark_archive", "--output", str(archive)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return archive, result


def test_build_writes_the_archive_and_its_size(built):
    archive, result = built

    assert result.returncode == 0, result.stderr
    assert "Wrote the Spark class archive" in result.stderr
    # The partial file was moved into place and the stale one removed.
    assert sorted(path.name for path in archive.parent.iterdir()) == [
        "classes.jsa",
        "classes.jsa.size",
    ]
    size = archive.stat().st_size
    assert size > 10_000_000
    assert (archive.parent / "classes.jsa.size").read_text("ascii") == f"{size}\n"
    # Nothing of the JVM's class-sharing notes reaches the output.
    assert "[cds" not in result.stdout + result.stderr


def test_built_archive_is_mapped_by_the_driver_jvm(built):
    archive, _ = built

    used = _count_with_archive(archive, "-Xshare:on")

    assert used.returncode == 0, used.stdout + used.stderr
    assert "rows: 3" in used.stdout


def test_an_archive_damaged_inside_is_left_out_not_fatal(built, tmp_path):
    archive, _ = built
    damaged = tmp_path / "classes.jsa"
    shutil.copyfile(archive, damaged)
    shutil.copyfile(archive.parent / "classes.jsa.size", tmp_path / "classes.jsa.size")
    with damaged.open("r+b") as stream:
        stream.seek(20_000_000)
        stream.write(bytes(range(256)) * 4096)

    # Without the checksum check this JVM died of a segmentation fault.
    used = _count_with_archive(damaged)

    assert used.returncode == 0, used.stdout + used.stderr
    assert "rows: 3" in used.stdout
    assert "fatal error" not in used.stdout + used.stderr


def test_a_damaged_archive_stops_a_jvm_that_requires_it(tmp_path):
    # The control of the test above: -Xshare:on does refuse what it cannot map.
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"not an archive" * 1000)
    (tmp_path / "classes.jsa.size").write_text("14000\n", "ascii")

    used = _count_with_archive(archive, "-Xshare:on")

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
