"""The synthetic data generator writes one file or a partitioned folder."""

from __future__ import annotations

import pandas as pd
import pytest

from shape.synthetic import main, write_partitioned_readings


def test_the_command_writes_a_partitioned_folder(tmp_path):
    output = tmp_path / "readings"

    main(["--rows", "1000", "--partitions", "4", "--output", str(output)])

    files = sorted(output.glob("*.parquet"))
    assert [len(pd.read_parquet(file)) for file in files] == [250, 250, 250, 250]
    table = pd.concat([pd.read_parquet(file) for file in files], ignore_index=True)
    assert list(table.columns) == ["time", "vibration_x", "vibration_y", "vibration_z"]
    assert table["time"].is_monotonic_increasing
    assert table["time"].is_unique


def test_rewriting_a_folder_replaces_it_and_is_reproducible(tmp_path):
    output = tmp_path / "readings"
    write_partitioned_readings(output, 90, 2, seed=1)
    first = pd.read_parquet(output / "part-00001.parquet")
    (output / "stray.parquet").write_bytes(b"")

    write_partitioned_readings(output, 90, 2, seed=1)

    assert sorted(p.name for p in output.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(output / "part-00001.parquet"), first)


def test_more_partitions_than_rows_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must be from 1 to the number of rows"):
        write_partitioned_readings(tmp_path / "readings", 3, 4)
