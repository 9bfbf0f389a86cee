"""``AtomicSparkDataset`` keeps the previous output when Spark's write fails."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io.core import DatasetError
from pyspark.sql import functions as F
from pyspark.sql import types as T

from shape.datasets import AtomicSparkDataset
from tests.engines.conftest import spark  # noqa: F401 (the Spark session fixture)


def _dataset(path) -> AtomicSparkDataset:
    return AtomicSparkDataset(
        filepath=str(path), file_format="parquet", save_args={"mode": "overwrite"}
    )


# No type hints: on a function given to F.udf they make PySpark warn.
def _fails_on_row_3(value):
    if value == 3.0:
        raise ValueError("row 3 cannot be scored")
    return value * 2


def test_a_failed_write_leaves_the_previous_output_whole(spark, tmp_path):  # noqa: F811
    target = tmp_path / "predictions.parquet"
    dataset = _dataset(target)
    dataset.save(spark.createDataFrame(pd.DataFrame({"value": [1.0, 2.0]})))
    before = sorted(path.name for path in target.iterdir())

    # Spark computes the rows while it writes them, as when scoring fails.
    failing = F.udf(_fails_on_row_3, T.DoubleType())
    rows = spark.createDataFrame(pd.DataFrame({"value": [1.0, 3.0]}))
    with pytest.raises(Exception, match="row 3 cannot be scored"):
        dataset.save(rows.select(failing("value").alias("value")))

    assert sorted(path.name for path in target.iterdir()) == before
    kept = pd.read_parquet(target).sort_values("value")["value"].tolist()
    assert kept == [1.0, 2.0]
    # No temporary folder is left beside the target.
    assert [path.name for path in tmp_path.iterdir()] == ["predictions.parquet"]


def test_a_good_write_replaces_the_output_and_loads_back(spark, tmp_path):  # noqa: F811
    target = tmp_path / "predictions.parquet"
    dataset = _dataset(target)
    dataset.save(spark.createDataFrame(pd.DataFrame({"value": [1.0, 2.0]})))
    dataset.save(spark.createDataFrame(pd.DataFrame({"value": [5.0, 6.0, 7.0]})))

    loaded = dataset.load().toPandas().sort_values("value")["value"].tolist()
    assert loaded == [5.0, 6.0, 7.0]
    assert [path.name for path in tmp_path.iterdir()] == ["predictions.parquet"]


def test_a_folder_replaces_a_single_file_left_by_the_other_engine(
    spark,  # noqa: F811
    tmp_path,
):
    target = tmp_path / "predictions.parquet"
    pd.DataFrame({"value": [9.0]}).to_parquet(target)

    _dataset(target).save(spark.createDataFrame(pd.DataFrame({"value": [1.0, 2.0]})))

    assert target.is_dir()
    assert sorted(pd.read_parquet(target)["value"]) == [1.0, 2.0]
    assert [path.name for path in tmp_path.iterdir()] == ["predictions.parquet"]


def _dictionary_columns(folder) -> set[str]:
    """Names of the columns with a dictionary page in any part file."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    names = set()
    for part in folder.glob("part-*.parquet"):
        metadata = pq.ParquetFile(part).metadata
        for group in range(metadata.num_row_groups):
            for index in range(metadata.num_columns):
                column = metadata.row_group(group).column(index)
                if column.has_dictionary_page:
                    names.add(column.path_in_schema)
    return names


def test_float_columns_are_written_without_a_dictionary(spark, tmp_path):  # noqa: F811
    frame = spark.createDataFrame(
        pd.DataFrame(
            {
                "time": [float(second) for second in range(40)],
                "anomaly_score": [0.5, -0.25] * 20,
                "prediction": [1, -1] * 20,
            }
        )
    ).coalesce(1)
    target = tmp_path / "predictions.parquet"
    _dataset(target).save(frame)

    assert _dictionary_columns(target) == {"prediction"}
    assert pd.read_parquet(target)["anomaly_score"].tolist() == [0.5, -0.25] * 20


def test_a_dictionary_option_in_save_args_is_kept(spark, tmp_path):  # noqa: F811
    frame = spark.createDataFrame(
        pd.DataFrame({"anomaly_score": [0.5, -0.25] * 20, "prediction": [1, -1] * 20})
    ).coalesce(1)
    target = tmp_path / "predictions.parquet"
    dataset = AtomicSparkDataset(
        filepath=str(target),
        file_format="parquet",
        save_args={"mode": "overwrite", "parquet.enable.dictionary": "true"},
    )
    dataset.save(frame)

    assert _dictionary_columns(target) == {"anomaly_score", "prediction"}
    # The dataset's own arguments are not changed by a save.
    assert dataset._save_args == {
        "mode": "overwrite",
        "parquet.enable.dictionary": "true",
    }


def test_nanosecond_timestamps_are_named_with_a_way_out(spark, tmp_path):  # noqa: F811
    # pandas writes timestamps in nanoseconds unless told otherwise.
    path = tmp_path / "readings.parquet"
    pd.DataFrame(
        {
            "time": pd.to_datetime([0, 1, 2], unit="s"),
            "vibration_x": [0.1, 0.2, 0.3],
        }
    ).to_parquet(path, index=False)
    dataset = AtomicSparkDataset(filepath=str(path), file_format="parquet")

    with pytest.raises(DatasetError) as raised:
        dataset.load()

    message = str(raised.value)
    assert (
        f"Parquet input '{path}' has timestamp column(s) ['time'] in nanoseconds"
        in message
    )
    assert "coerce_timestamps='us'" in message
    # Written as the message says, the same table loads.
    pd.read_parquet(path).to_parquet(
        path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True
    )
    assert dataset.load().count() == 3


def test_a_file_that_is_not_parquet_is_named_before_spark_reads(spark, tmp_path):  # noqa: F811
    text = tmp_path / "readings.parquet"
    text.write_text("time,vibration_x\n0,1.5\n")
    folder = tmp_path / "batch"
    folder.mkdir()
    pd.DataFrame({"vibration_x": [1.0]}).to_parquet(folder / "part-0.parquet")
    (folder / "notes.txt").write_text("taken on Monday")

    with pytest.raises(
        DatasetError,
        match=(
            r"File '.*readings\.parquet' is not a Parquet file: it should start "
            r"with the bytes b'PAR1' but starts with b'time'"
        ),
    ):
        AtomicSparkDataset(filepath=str(text), file_format="parquet").load()
    with pytest.raises(
        DatasetError, match=r"File '.*notes\.txt' is not a Parquet file"
    ):
        AtomicSparkDataset(filepath=str(folder), file_format="parquet").load()
