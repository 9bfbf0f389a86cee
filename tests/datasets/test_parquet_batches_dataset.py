"""``ParquetBatchesDataset`` reads lazily in batches and writes batch by batch."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.io.core import DatasetError

from shape.datasets import ParquetBatchesDataset
from shape.engines.batches import ReadingBatches, with_progress
from shape.synthetic import generate_readings, write_partitioned_readings


@pytest.fixture
def readings() -> pd.DataFrame:
    return generate_readings(100, seed=4)


def test_load_is_lazy_and_re_iterable_in_bounded_batches(tmp_path, readings):
    path = tmp_path / "readings.parquet"
    readings.to_parquet(path, index=False)

    stream = ParquetBatchesDataset(
        filepath=str(path), load_args={"batch_rows": 30}
    ).load()
    path.unlink()  # only the footer was read at load time...
    with pytest.raises(FileNotFoundError):
        list(stream)  # ...so the rows are read when iterated

    readings.to_parquet(path, index=False)
    assert [len(frame) for frame in stream] == [30, 30, 30, 10]
    pd.testing.assert_frame_equal(stream.to_pandas(), readings)
    pd.testing.assert_frame_equal(stream.to_pandas(), readings)


def test_select_reads_only_the_selected_columns(tmp_path, readings):
    path = tmp_path / "readings.parquet"
    readings.assign(note="text").to_parquet(path, index=False)

    stream = ParquetBatchesDataset(filepath=str(path)).load()
    selected = stream.select(["vibration_y", "time"])

    assert stream.columns == [*readings.columns, "note"]
    assert selected.columns == ["vibration_y", "time"]
    pd.testing.assert_frame_equal(
        selected.to_pandas(), readings[["vibration_y", "time"]]
    )
    with pytest.raises(KeyError, match=r"Columns \['speed'\] are not in Parquet"):
        stream.select(["speed"])


def test_predictions_written_batch_by_batch_read_back_equal(tmp_path, readings):
    path = tmp_path / "predictions.parquet"
    dataset = ParquetBatchesDataset(filepath=str(path), load_args={"batch_rows": 7})
    stream = ReadingBatches.from_frame(readings, batch_rows=7).map(
        lambda frame: frame.assign(prediction=1), [*readings.columns, "prediction"]
    )

    dataset.save(stream)

    assert pq.ParquetFile(path).metadata.num_row_groups == 15
    pd.testing.assert_frame_equal(pd.read_parquet(path), readings.assign(prediction=1))
    pd.testing.assert_frame_equal(dataset.load().to_pandas(), pd.read_parquet(path))
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.parquet"]


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, readings):
    path = tmp_path / "predictions.parquet"
    dataset = ParquetBatchesDataset(filepath=str(path), load_args={"batch_rows": 10})
    dataset.save(readings)
    before = path.read_bytes()

    def fail_on_third_batch(frame: pd.DataFrame) -> pd.DataFrame:
        if frame["time"].iloc[0] > readings["time"].iloc[25]:
            raise RuntimeError("scoring failed half way")
        return frame

    failing = ReadingBatches.from_frame(readings, batch_rows=10).map(
        fail_on_third_batch, list(readings.columns)
    )
    # Kedro wraps what the stream raised, keeping its message.
    with pytest.raises(DatasetError, match="scoring failed half way"):
        dataset.save(failing)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.parquet"]


def _column_encodings(path) -> dict[str, set[str]]:
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    return {
        row_group.column(i).path_in_schema: set(row_group.column(i).encodings)
        for i in range(row_group.num_columns)
    }


def test_only_columns_that_are_not_floats_are_dictionary_encoded(tmp_path, readings):
    path = tmp_path / "predictions.parquet"
    ParquetBatchesDataset(filepath=str(path)).save(readings.assign(prediction=1))

    encodings = _column_encodings(path)

    assert "RLE_DICTIONARY" in encodings["prediction"]
    for column in readings.columns:
        assert "RLE_DICTIONARY" not in encodings[column], column
    pd.testing.assert_frame_equal(pd.read_parquet(path), readings.assign(prediction=1))


def test_save_args_choose_the_dictionary_columns_when_given(tmp_path, readings):
    path = tmp_path / "predictions.parquet"
    dataset = ParquetBatchesDataset(
        filepath=str(path), save_args={"use_dictionary": True}
    )
    dataset.save(readings)

    assert all("RLE_DICTIONARY" in found for found in _column_encodings(path).values())


def test_a_failing_write_of_one_batch_fails_the_save(tmp_path, readings):
    path = tmp_path / "predictions.parquet"
    # Batches whose columns change type cannot go into one Parquet file; the
    # second batch's write fails in the writing thread, and the save with it.
    stream = ReadingBatches.from_frame(readings, batch_rows=50).map(
        lambda frame: frame.assign(
            prediction=1 if frame["time"].iloc[0] < readings["time"].iloc[50] else "x"
        ),
        [*readings.columns, "prediction"],
    )

    with pytest.raises(DatasetError, match="prediction"):
        ParquetBatchesDataset(filepath=str(path)).save(stream)

    assert list(tmp_path.iterdir()) == []


def test_a_partitioned_folder_loads_as_one_table_in_file_order(tmp_path):
    folder = write_partitioned_readings(
        tmp_path / "readings", 1_000, 3, seed=2, chunk_rows=150
    )
    files = sorted(folder.glob("*.parquet"))
    assert [file.name for file in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]

    stream = ParquetBatchesDataset(
        filepath=str(folder), load_args={"batch_rows": 400}
    ).load()

    expected = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    pd.testing.assert_frame_equal(stream.to_pandas(), expected)
    assert len(expected) == 1_000
    assert expected["time"].is_monotonic_increasing


def test_a_missing_table_is_named_in_the_error(tmp_path):
    dataset = ParquetBatchesDataset(filepath=str(tmp_path / "absent.parquet"))

    with pytest.raises(DatasetError, match=r"absent\.parquet' does not exist"):
        dataset.load()


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"holds no Parquet files"):
        ParquetBatchesDataset(filepath=str(tmp_path)).load()


def test_files_of_one_table_must_share_their_columns(tmp_path, readings):
    readings.to_parquet(tmp_path / "a.parquet", index=False)
    readings.drop(columns="vibration_z").to_parquet(tmp_path / "b.parquet", index=False)

    with pytest.raises(DatasetError, match=r"b\.parquet' has columns"):
        ParquetBatchesDataset(filepath=str(tmp_path)).load()


def test_batch_rows_must_be_positive():
    with pytest.raises(DatasetError, match="'batch_rows' must be a positive integer"):
        ParquetBatchesDataset(filepath="x.parquet", load_args={"batch_rows": 0})


def test_progress_is_logged_at_most_once_per_interval(caplog, readings):
    frames = ReadingBatches.from_frame(readings, batch_rows=10)

    with caplog.at_level(logging.INFO, logger="shape.engines.batches"):
        list(with_progress(frames, "short pass"))
        list(with_progress(frames, "logged pass", interval_s=0.0))

    lines = [record.getMessage() for record in caplog.records]
    assert not any(line.startswith("short pass") for line in lines)
    assert "logged pass: 10 rows done" in lines[0]
    assert "logged pass: 100 rows done" in lines[9]
    assert lines[10].startswith("logged pass: finished, 100 rows in")
    assert "rows/s" in lines[0]


def test_reading_keeps_arrow_memory_at_about_one_row_group(tmp_path):
    path = tmp_path / "readings.parquet"
    rows = np.random.default_rng(0).normal(size=(400_000, 4))
    pq.write_table(
        pa.table({f"c{i}": rows[:, i] for i in range(4)}),
        path,
        row_group_size=10_000,
    )
    stream = ParquetBatchesDataset(
        filepath=str(path), load_args={"batch_rows": 10_000}
    ).load()

    allocated = []
    for frame in stream.select(["c0", "c1", "c2"]):
        allocated.append(pa.total_allocated_bytes())
        del frame

    # One row group of the three columns is 240 KB; 40 row groups are read.
    assert len(allocated) == 40
    assert max(allocated) - allocated[0] < 2 * 240_000


def test_a_file_damaged_after_its_footer_is_named_when_read(tmp_path):
    path = tmp_path / "damaged.parquet"
    generate_readings(200_000, seed=2).to_parquet(path, row_group_size=20_000)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 65_536] = b"\xff" * 65_536
    path.write_bytes(bytes(data))  # the footer at the end is intact
    dataset = ParquetBatchesDataset(
        filepath=str(path), load_args={"batch_rows": 20_000}
    )
    stream = dataset.load()

    read = []
    with pytest.raises(DatasetError, match=r"damaged.parquet' could not be read to"):
        for frame in stream:
            read.append(len(frame))

    # The batches before the damage were read; the error came mid-file.
    assert 0 < sum(read) < 200_000
