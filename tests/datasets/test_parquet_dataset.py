"""``ParquetDataset`` names the file at fault and never leaves half a table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from shape.datasets import ParquetDataset
from shape.datasets.atomic import partial_path
from shape.datasets.parquet_dataset import check_parquet_source


@pytest.fixture
def readings() -> pd.DataFrame:
    return pd.DataFrame(
        {"time": [0.1, 0.2, 0.3], "vibration_x": [1.0, 2.0, 3.0]},
    )


@pytest.fixture
def parquet_file(tmp_path, readings):
    path = tmp_path / "readings.parquet"
    readings.to_parquet(path, index=False)
    return path


def test_round_trip(tmp_path, readings):
    dataset = ParquetDataset(
        filepath=str(tmp_path / "out.parquet"), save_args={"index": False}
    )
    dataset.save(readings)
    pd.testing.assert_frame_equal(dataset.load(), readings)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.parquet"]


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "absent.parquet"
    with pytest.raises(DatasetError, match=f"'{path}' does not exist"):
        ParquetDataset(filepath=str(path)).load()


def test_csv_file_is_not_parquet(tmp_path):
    path = tmp_path / "readings.parquet"
    text = "time,vibration_x\n0.1,1.0\n"
    path.write_text(text)
    with pytest.raises(
        DatasetError,
        match=rf"File '{path}' is not a Parquet file: .* starts with b'time' "
        rf"\({len(text)} bytes in all\)",
    ):
        ParquetDataset(filepath=str(path)).load()


def test_truncated_file_is_named(parquet_file):
    whole = parquet_file.read_bytes()
    parquet_file.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        DatasetError,
        match=rf"Parquet file '{parquet_file}' is truncated: .*"
        rf"its {len(whole) // 2} bytes end without",
    ):
        ParquetDataset(filepath=str(parquet_file)).load()


def test_folder_without_parquet_files(tmp_path):
    folder = tmp_path / "readings"
    folder.mkdir()
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_text("")
    with pytest.raises(DatasetError, match=f"folder '{folder}' holds no Parquet"):
        ParquetDataset(filepath=str(folder)).load()


def test_folder_with_a_stray_file_names_it(tmp_path, readings):
    folder = tmp_path / "readings"
    folder.mkdir()
    readings.to_parquet(folder / "part-0.parquet", index=False)
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(
        DatasetError, match=f"File '{folder / 'notes.txt'}' is not a Parquet file"
    ):
        ParquetDataset(filepath=str(folder)).load()


def test_folder_of_parquet_files_loads_as_one_table(tmp_path, readings):
    folder = tmp_path / "readings"
    folder.mkdir()
    readings.iloc[:2].to_parquet(folder / "part-0.parquet", index=False)
    readings.iloc[2:].to_parquet(folder / "part-1.parquet", index=False)
    (folder / "_SUCCESS").write_text("")

    assert check_parquet_source(folder) == [
        folder / "part-0.parquet",
        folder / "part-1.parquet",
    ]
    loaded = ParquetDataset(filepath=str(folder)).load()
    np.testing.assert_array_equal(
        np.sort(loaded["vibration_x"].to_numpy()), readings["vibration_x"].to_numpy()
    )


def test_failed_save_keeps_previous_file(parquet_file):
    before = parquet_file.read_bytes()
    # pyarrow cannot store a column mixing floats and arbitrary objects.
    broken = pd.DataFrame({"time": [0.1, 0.2], "vibration_x": [1.0, object()]})

    with pytest.raises(DatasetError):
        ParquetDataset(filepath=str(parquet_file)).save(broken)

    assert parquet_file.read_bytes() == before
    assert sorted(path.name for path in parquet_file.parent.iterdir()) == [
        parquet_file.name
    ]


_SLOW_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd
    from shape.datasets import ParquetDataset

    rows = 6_000_000
    frame = pd.DataFrame(
        np.random.default_rng(0).random((rows, 4)), columns=list("abcd")
    )
    ParquetDataset(
        filepath=sys.argv[1], save_args={"compression": "gzip"}
    ).save(frame)
    """
)


def test_process_killed_mid_save_leaves_previous_file(parquet_file):
    before = parquet_file.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(parquet_file)])
    partial = partial_path(parquet_file, pid=writer.pid)
    try:
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.stat().st_size > 0):
            assert writer.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait()

    assert writer.returncode == -signal.SIGKILL
    assert parquet_file.read_bytes() == before
    assert partial.exists(), "the killed writer's partial file should remain"

    # The next save clears what the killed one left and replaces the file.
    replacement = pd.DataFrame({"time": [9.0], "vibration_x": [9.0]})
    ParquetDataset(filepath=str(parquet_file), save_args={"index": False}).save(
        replacement
    )
    assert not partial.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_file), replacement)
