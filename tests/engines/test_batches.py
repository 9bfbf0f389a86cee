"""``ReadingBatches`` runs per-batch work on worker threads and keeps the order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numba
import numpy as np
import pandas as pd
import pytest

from shape.engines import batches
from shape.engines import sklearn_engine as engine
from shape.engines.batches import ReadingBatches, one_blas_thread
from shape.synthetic import generate_readings
from tests.engines.conftest import FEATURE_COLUMNS


class _CountingSource:
    """A source of ``n_batches`` numbered frames that records what was read."""

    def __init__(self, n_batches: int, rows: int = 4) -> None:
        self.n_batches = n_batches
        self.rows = rows
        self.yielded = 0
        self.closed = False

    def __call__(self, columns: list[str] | None) -> Iterator[pd.DataFrame]:
        try:
            for index in range(self.n_batches):
                self.yielded += 1
                yield pd.DataFrame(
                    {"batch": [index] * self.rows, "value": np.arange(self.rows) * 0.5}
                )
        finally:
            self.closed = True

    def stream(self) -> ReadingBatches:
        return ReadingBatches(self, ["batch", "value"], description="counted batches")


@pytest.fixture
def three_workers(monkeypatch):
    """Three worker threads whatever this machine's cores."""
    monkeypatch.setattr(batches, "worker_count", lambda: 3)


def _slow_for_early_batches(frame: pd.DataFrame) -> pd.DataFrame:
    # Earlier batches take longer, so they would finish last if order were
    # not kept.
    time.sleep(0.02 * (8 - int(frame["batch"].iloc[0])))
    return frame.assign(thread=threading.current_thread().name)


def test_batches_come_out_in_source_order_from_several_threads(three_workers):
    stream = (
        _CountingSource(8)
        .stream()
        .map(_slow_for_early_batches, ["batch", "value", "thread"])
    )

    frames = list(stream)

    assert [int(frame["batch"].iloc[0]) for frame in frames] == list(range(8))
    threads = {frame["thread"].iloc[0] for frame in frames}
    assert len(threads) > 1
    assert all(name.startswith("shape-batches") for name in threads)


def test_one_worker_runs_everything_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(batches, "worker_count", lambda: 1)
    stream = (
        _CountingSource(3)
        .stream()
        .map(_slow_for_early_batches, ["batch", "value", "thread"])
    )

    threads = {frame["thread"].iloc[0] for frame in stream}

    assert threads == {threading.current_thread().name}


def test_an_error_in_a_batch_stops_the_pass_and_closes_the_source(three_workers):
    source = _CountingSource(1_000)

    def fail_on_batch_5(frame: pd.DataFrame) -> pd.DataFrame:
        if frame["batch"].iloc[0] == 5:
            raise ValueError("batch 5 is bad")
        return frame

    seen = []
    with pytest.raises(ValueError, match="batch 5 is bad"):
        for frame in source.stream().map(fail_on_batch_5, ["batch", "value"]):
            seen.append(int(frame["batch"].iloc[0]))

    assert seen == [0, 1, 2, 3, 4]
    assert source.closed
    # At most one batch per worker, plus one, is read ahead of the consumer.
    assert source.yielded <= 6 + 3 + 1


def test_an_abandoned_pass_leaves_no_thread_and_reads_no_further(three_workers):
    source = _CountingSource(1_000)
    stream = source.stream().map(lambda frame: frame * 2, ["batch", "value"])

    iterator = iter(stream)
    first = next(iterator)
    iterator.close()

    assert first["value"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert source.closed
    assert source.yielded <= 1 + 3 + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("shape-batches")]


def test_workers_run_kernels_on_one_thread_and_blas_is_restored(three_workers):
    blas_before = [
        info["num_threads"]
        for info in batches._thread_pools().info()
        if info["user_api"] == "blas"
    ]
    assert blas_before, "numpy's BLAS should be found"
    inside = []

    def record(frame: pd.DataFrame) -> pd.DataFrame:
        blas = [
            info["num_threads"]
            for info in batches._thread_pools().info()
            if info["user_api"] == "blas"
        ]
        inside.append((numba.get_num_threads(), blas))
        with one_blas_thread():  # does nothing on a worker
            pass
        return frame

    list(_CountingSource(4).stream().map(record, ["batch", "value"]))

    assert inside
    assert all(threads == 1 for threads, _ in inside)
    assert all(blas == [1] * len(blas_before) for _, blas in inside)
    after = [
        info["num_threads"]
        for info in batches._thread_pools().info()
        if info["user_api"] == "blas"
    ]
    assert after == blas_before


def test_empty_reads_only_the_first_batch_and_keeps_columns_and_dtypes():
    source = _CountingSource(50)
    stream = source.stream().map(
        lambda frame: frame.assign(label=frame["batch"].astype("string")),
        ["batch", "value", "label"],
    )

    frames = list(stream.empty())

    assert len(frames) == 1
    assert frames[0].empty
    assert list(frames[0].columns) == ["batch", "value", "label"]
    assert frames[0].dtypes.astype(str).tolist() == ["int64", "float64", "string"]
    assert source.yielded == 1


def test_with_no_invalid_row_the_rejected_part_reads_one_batch():
    source = _CountingSource(50)
    readings = ReadingBatches(
        source, ["batch", "value"], description="counted batches"
    ).map(lambda frame: frame.rename(columns={"batch": "time"}), ["time", "value"])

    split = engine.split_invalid_rows(readings, ["value"], any_invalid=False)

    rejected = split["rejected"].to_pandas()
    assert rejected.empty
    assert list(rejected.columns) == ["time", "value", "rejected_reason"]
    assert source.yielded == 1
    assert split["valid"] is readings


def test_fit_and_scores_do_not_depend_on_the_number_of_workers(
    monkeypatch, challenge_steps, challenge_model
):
    # More rows than the quantile step's subsample, so its row sample is drawn
    # across the batches too.
    readings = generate_readings(30_000, seed=3)
    results = {}
    for workers in (1, 3):
        monkeypatch.setattr(batches, "worker_count", lambda workers=workers: workers)
        batched = ReadingBatches.from_frame(readings, batch_rows=4_096)
        stream = engine.select_readings(batched, "time", FEATURE_COLUMNS)
        chain = engine.fit_chain(stream, challenge_steps, FEATURE_COLUMNS)
        predictions = engine.score_features(
            engine.transform_readings(stream, chain), challenge_model, 66
        ).to_pandas()
        results[workers] = (chain.to_dict(), predictions)

    assert results[1][0] == results[3][0]
    pd.testing.assert_frame_equal(results[1][1], results[3][1])
    assert len(results[3][1]) == 30_000
    assert results[3][0]["n_rows_fitted"] == 30_000
