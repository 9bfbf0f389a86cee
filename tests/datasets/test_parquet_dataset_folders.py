"""``ParquetDataset`` reads Spark's folders and replaces one with a single file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from shape.datasets import ParquetDataset


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
    loaded = ParquetDataset(filepath=str(spark_folder)).load()

    pd.testing.assert_frame_equal(loaded, table)


def test_save_replaces_a_folder_with_one_file(spark_folder, table):
    dataset = ParquetDataset(filepath=str(spark_folder), save_args={"index": False})
    replacement = table.assign(prediction=[-1, -1, -1])

    dataset.save(replacement)

    assert spark_folder.is_file()
    pd.testing.assert_frame_equal(dataset.load(), replacement)
    assert sorted(path.name for path in spark_folder.parent.iterdir()) == [
        "predictions.parquet"
    ]


def test_failed_save_leaves_the_folder_as_it_was(spark_folder, table):
    dataset = ParquetDataset(filepath=str(spark_folder))
    # pyarrow cannot store a column that mixes numbers and text.
    unwritable = pd.DataFrame({"time": [1.0, "two"]})

    with pytest.raises(Exception, match="two"):
        dataset.save(unwritable)

    assert spark_folder.is_dir()
    pd.testing.assert_frame_equal(
        ParquetDataset(filepath=str(spark_folder)).load(), table
    )
    assert [path.name for path in spark_folder.parent.iterdir()] == [
        "predictions.parquet"
    ]


def test_save_refuses_a_folder_that_holds_more_than_part_files(spark_folder, table):
    (spark_folder / "notes.txt").write_text("keep me")

    with pytest.raises(DatasetError, match="holding more than Spark's part files"):
        ParquetDataset(filepath=str(spark_folder)).save(table)

    assert (spark_folder / "notes.txt").read_text() == "keep me"
