"""``ReadingBatches``: a table read, transformed and written one batch at a time.

The sklearn engine never holds a whole table. A ``ReadingBatches`` is a recipe:
where the rows come from (a Parquet file or folder, or a pandas frame) and the
per-batch functions to apply to them. Nothing is read until the batches are
iterated, and every iteration reads the source again, so the same object can be
passed over several times (fitting the chain takes one pass per fitted step).
Memory is bounded by the batch size, not by the table.

The per-batch functions run on worker threads, one per core, several batches at
once, while the iterating thread reads the next batches from the source; the
batches still come out in source order. The functions are numpy, pandas and
numba code that releases the GIL for its heavy parts.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numba
import pandas as pd
from threadpoolctl import ThreadpoolController

logger = logging.getLogger(__name__)

#: Rows per batch when nothing else is configured. At the chain's widest point a
#: batch is 66 float64 columns, so 262,144 rows take about 140 MB per copy.
DEFAULT_BATCH_ROWS = 262_144

#: Least number of seconds between two progress lines of one pass.
PROGRESS_INTERVAL_S = 5.0

#: Reads the source: receives the columns wanted (None for all), yields frames.
BatchSource = Callable[[list[str] | None], Iterator[pd.DataFrame]]

#: A per-batch function: one frame in, one frame out.
BatchFunction = Callable[[pd.DataFrame], pd.DataFrame]


class ReadingBatches:
    """A lazy, re-iterable stream of pandas frames with the same columns.

    Args:
        source: Yields the source frames; given the columns to read, so a
            Parquet source reads only those.
        columns: Columns of the frames the source yields.
        description: Where the rows come from, for messages (a path, say).
        functions: Per-batch functions applied in order, each with the
            columns it returns.
    """

    def __init__(
        self,
        source: BatchSource,
        columns: list[str],
        description: str = "frame",
        functions: tuple[tuple[BatchFunction, list[str]], ...] = (),
    ) -> None:
        self._source = source
        self._source_columns = list(columns)
        self._projection: list[str] | None = None
        self.description = description
        self._functions = functions

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> ReadingBatches:
        """Wraps an in-memory frame, handed out in slices of ``batch_rows``.

        A frame of no rows still yields one (empty) batch, so its columns and
        dtypes travel through.
        """

        def slices(columns: list[str] | None) -> Iterator[pd.DataFrame]:
            selected = frame if columns is None else frame[columns]
            for start in range(0, max(len(selected), 1), batch_rows):
                yield selected.iloc[start : start + batch_rows]

        return cls(slices, list(frame.columns), description="in-memory frame")

    @property
    def columns(self) -> list[str]:
        """Column names of the frames that iteration yields."""
        if self._functions:
            return list(self._functions[-1][1])
        if self._projection is not None:
            return list(self._projection)
        return list(self._source_columns)

    def select(self, columns: list[str]) -> ReadingBatches:
        """Keeps only ``columns``, in that order.

        Before any ``map``, the selection is handed to the source, so a Parquet
        source reads only these columns from disk.

        Raises:
            KeyError: When a column is not in the stream; lists the missing and
                the present columns.
        """
        missing = [column for column in columns if column not in self.columns]
        if missing:
            raise KeyError(
                f"Columns {missing} are not in {self.description}; it has "
                f"{self.columns}."
            )
        if self._functions:
            return self.map(lambda frame: frame[list(columns)], list(columns))

        selected = ReadingBatches(self._source, self._source_columns, self.description)
        selected._projection = list(columns)
        return selected

    def map(self, function: BatchFunction, columns: list[str]) -> ReadingBatches:
        """Applies ``function`` to every batch, lazily.

        Args:
            function: Takes one frame and returns a new one; it must not depend
                on other batches.
            columns: Columns of the frames ``function`` returns.

        Returns:
            A new stream; this one is left as it was.
        """
        mapped = ReadingBatches(
            self._source,
            self._source_columns,
            self.description,
            (*self._functions, (function, list(columns))),
        )
        mapped._projection = self._projection
        return mapped

    @property
    def last_function(self) -> BatchFunction | None:
        """The per-batch function ``map`` added last, or None."""
        return self._functions[-1][0] if self._functions else None

    def without_last_function(self) -> ReadingBatches:
        """This stream as it was before the last ``map``.

        Lets a consumer that recognises the last function do its work in a
        cheaper, combined way (see ``sklearn_engine.score_features``).
        """
        previous = ReadingBatches(
            self._source, self._source_columns, self.description, self._functions[:-1]
        )
        previous._projection = self._projection
        return previous

    def empty(self) -> ReadingBatches:
        """This stream with no rows: one empty batch with its columns and dtypes.

        Only the first batch of the source is read (and cut to no rows before
        the per-batch functions see it), not the table.
        """

        def first_batch_emptied(columns: list[str] | None) -> Iterator[pd.DataFrame]:
            for frame in self._source(columns):
                yield frame.iloc[:0]
                return

        emptied = ReadingBatches(
            first_batch_emptied, self._source_columns, self.description, self._functions
        )
        emptied._projection = self._projection
        return emptied

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self.imap(_unchanged)

    def imap[Result](
        self, function: Callable[[pd.DataFrame], Result]
    ) -> Iterator[Result]:
        """Yields ``function`` of every batch, in source order.

        The per-batch functions and ``function`` run on ``worker_count()``
        threads, so that a consumer's own per-batch work (sums of a pass, say)
        is spread over the cores too. At most one batch per worker, plus one,
        is read ahead. With one worker, or nothing to compute, everything runs on the
        calling thread.

        Args:
            function: Takes one frame of the stream; must not depend on other
                batches.
        """
        functions = [function for function, _ in self._functions]

        def apply(frame: pd.DataFrame) -> Result:
            for batch_function in functions:
                frame = batch_function(frame)
            return function(frame)

        frames = self._source(self._projection)
        workers = worker_count()
        if workers == 1 or (not functions and function is _unchanged):
            return map(apply, frames)
        return _ordered_on_workers(apply, frames, workers)

    def to_pandas(self) -> pd.DataFrame:
        """Reads every batch into one frame: for small tables and tests only."""
        frames = list(self)
        if not frames:
            return pd.DataFrame(columns=self.columns)
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        return (
            f"ReadingBatches({self.description}, columns={self.columns}, "
            f"{len(self._functions)} per-batch function(s))"
        )


def _unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def worker_count() -> int:
    """Threads that apply per-batch functions: the cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.cache
def _thread_pools() -> ThreadpoolController:
    # The process's BLAS and OpenMP libraries, found once (it takes a while).
    return ThreadpoolController()


#: Marks the worker threads of ``ReadingBatches.imap``.
_worker_thread = threading.local()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limits BLAS to one thread while the ``with`` block runs.

    BLAS's thread count is one setting for the whole process. A stream's worker
    threads run under a limit their iteration set before they started, so on
    them this does nothing: several threads changing the setting at once could
    leave it changed.
    """
    if getattr(_worker_thread, "active", False):
        return contextlib.nullcontext()
    return _thread_pools().limit(limits=1, user_api="blas")


def _one_thread_each() -> None:
    _worker_thread.active = True
    # The workers already take every core: a numba kernel called on a worker
    # runs on that worker alone (numba's thread count is per calling thread)
    # rather than starting a team of threads per call.
    numba.set_num_threads(1)


def _ordered_on_workers[Result](
    apply: Callable[[pd.DataFrame], Result],
    frames: Iterator[pd.DataFrame],
    workers: int,
) -> Iterator[Result]:
    pending: deque[Future[Result]] = deque()
    with contextlib.ExitStack() as cleanup:
        # One BLAS thread per worker, set here, on the iterating thread, for as
        # long as the workers run (see ``one_blas_thread``).
        cleanup.enter_context(one_blas_thread())
        pool = cleanup.enter_context(
            ThreadPoolExecutor(
                workers,
                thread_name_prefix="shape-batches",
                initializer=_one_thread_each,
            )
        )
        try:
            for frame in frames:
                pending.append(pool.submit(apply, frame))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # On an error or an abandoned iteration, batches not started are
            # dropped; the pool then waits for the ones running.
            for future in pending:
                future.cancel()
            close = getattr(frames, "close", None)
            if close is not None:
                close()


def as_batches(readings: Any) -> ReadingBatches:
    """Returns ``readings`` as a ``ReadingBatches``, wrapping a pandas frame.

    Raises:
        TypeError: When ``readings`` is neither.
    """
    if isinstance(readings, ReadingBatches):
        return readings
    if isinstance(readings, pd.DataFrame):
        return ReadingBatches.from_frame(readings)
    raise TypeError(
        "The sklearn engine reads a pandas DataFrame or a ReadingBatches stream; "
        f"got {type(readings).__name__}."
    )


def with_progress[Result](
    frames: Iterable[Result],
    label: str,
    interval_s: float = PROGRESS_INTERVAL_S,
    rows_in: Callable[[Result], int] = len,
) -> Iterator[Result]:
    """Yields ``frames`` unchanged and logs rows done and rate while it runs.

    A line is logged at most every ``interval_s`` seconds, so a short pass logs
    nothing at info level; a pass that logged progress also logs its total.

    Args:
        frames: The batches of one pass, or what ``ReadingBatches.imap`` made
            of them.
        label: What the pass does, such as ``fit_chain: quantile sample``.
        interval_s: Least number of seconds between two lines.
        rows_in: The number of rows one item of ``frames`` stands for.
    """
    started = last_line = time.perf_counter()
    rows = 0
    logged = False
    for frame in frames:
        yield frame
        rows += rows_in(frame)
        now = time.perf_counter()
        if now - last_line >= interval_s:
            logger.info(
                "%s: %s rows done, %s rows/s",
                label,
                f"{rows:,}",
                f"{rows / (now - started):,.0f}",
            )
            last_line = now
            logged = True

    elapsed = time.perf_counter() - started
    rate = f"{rows / elapsed:,.0f}" if elapsed > 0 else "n/a"
    logger.log(
        logging.INFO if logged else logging.DEBUG,
        "%s: finished, %s rows in %.1f s (%s rows/s)",
        label,
        f"{rows:,}",
        elapsed,
        rate,
    )
