"""``ParquetFileDataset`` writes one file, also where Spark left a folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shape.datasets import ParquetFileDataset


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"time": [0.5, 1.5, 2.5], "prediction": [1, -1, 1]})


@pytest.fixture
def spark_folder(tmp_path: Path, table: pd.DataFrame) -> Path:
    """A folder of part files laid out as Spark writes them."""
    folder = tmp_path / "predictions.parquet"
    folder.mkdir()
    table.iloc[:2].to_parquet(folder / "part-00000-x.snappy.parquet", index=False)
    table.iloc[2:].to_parquet(folder / "part-00001-x.snappy.parquet", index=False)
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def test_loads_a_folder_of_part_files(spark_folder, table):
    loaded = ParquetFileDataset(filepath=str(spark_folder)).load()

    pd.testing.assert_frame_equal(loaded, table)


def test_save_replaces_a_folder_with_one_file(spark_folder, table):
    dataset = ParquetFileDataset(filepath=str(spark_folder), save_args={"index": False})
    replacement = table.assign(prediction=[-1, -1, -1])

    dataset.save(replacement)

    assert spark_folder.is_file()
    pd.testing.assert_frame_equal(dataset.load(), replacement)
    assert sorted(path.name for path in spark_folder.parent.iterdir()) == [
        "predictions.parquet"
    ]


def test_save_to_a_new_path_writes_one_file(tmp_path, table):
    dataset = ParquetFileDataset(filepath=str(tmp_path / "new.parquet"))

    dataset.save(table)

    assert (tmp_path / "new.parquet").is_file()
    pd.testing.assert_frame_equal(dataset.load(), table)


def test_failed_save_leaves_the_folder_as_it_was(spark_folder, table):
    dataset = ParquetFileDataset(filepath=str(spark_folder))
    # pyarrow cannot store a column that mixes numbers and text.
    unwritable = pd.DataFrame({"time": [1.0, "two"]})

    with pytest.raises(Exception, match="two"):
        dataset.save(unwritable)

    assert spark_folder.is_dir()
    pd.testing.assert_frame_equal(
        ParquetFileDataset(filepath=str(spark_folder)).load(), table
    )
    assert [path.name for path in spark_folder.parent.iterdir()] == [
        "predictions.parquet"
    ]
