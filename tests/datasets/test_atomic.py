"""``atomic_write`` replaces a target only when the write completes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shape.datasets.atomic import atomic_write, partial_path, remove_stale_partials


def test_successful_write_replaces_target_and_leaves_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    with atomic_write(target) as temporary:
        assert temporary.parent == target.parent
        assert temporary.name.startswith(".metrics.json.")
        temporary.write_text("new")

    assert target.read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]


def test_failed_write_keeps_old_target_and_removes_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    with pytest.raises(RuntimeError, match="disk gone"):
        with atomic_write(target) as temporary:
            temporary.write_text("half a docu")
            raise RuntimeError("disk gone")

    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]


def test_block_that_writes_nothing_is_an_error(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")

    with pytest.raises(FileNotFoundError, match="Nothing was written"):
        with atomic_write(target):
            pass

    assert target.read_bytes() == b"old"


def test_folder_output_replaces_folder(tmp_path):
    target = tmp_path / "predictions"
    target.mkdir()
    (target / "part-0.parquet").write_bytes(b"old")

    with atomic_write(target) as temporary:
        temporary.mkdir()
        (temporary / "part-0.parquet").write_bytes(b"new")
        (temporary / "part-1.parquet").write_bytes(b"new")

    assert sorted(path.name for path in target.iterdir()) == [
        "part-0.parquet",
        "part-1.parquet",
    ]
    assert (target / "part-0.parquet").read_bytes() == b"new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["predictions"]


def test_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "predictions.parquet"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    stale = partial_path(target, pid=dead_pid)
    stale.write_bytes(b"PAR1 half")
    live = partial_path(target, pid=1)
    live.write_bytes(b"PAR1 in progress")
    other = tmp_path / ".other.parquet.12.partial"
    other.write_bytes(b"not ours")

    removed = remove_stale_partials(target)

    assert removed == [stale]
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
