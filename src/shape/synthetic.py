"""Synthetic vibration readings with the challenge's schema.

``generate_readings`` resamples rows of a source table (the challenge's 295 rows)
with a little noise, or, without a source, draws three noisy periodic signals
with occasional bursts. Either way the columns are ``time`` (unique, increasing)
and ``vibration_x``, ``vibration_y``, ``vibration_z`` (float64).

Run as a command to write a table, as one file or as a folder of ``--partitions``
files (``part-00000.parquet`` …, the layout ``ParquetBatchesDataset`` reads)::

    python -m shape.synthetic --rows 1000000 --output data/01_raw/big.parquet
    python -m shape.synthetic --rows 100000000 --partitions 100 \
        --output /tmp/readings_100m --source data/01_raw/readings.parquet

Memory stays bounded by the chunk size whatever the number of rows.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

FEATURE_COLUMNS = ["vibration_x", "vibration_y", "vibration_z"]

#: Seconds between two readings in the challenge's table, on average.
_TIME_STEP = 0.0816


def generate_readings(
    n_rows: int,
    seed: int = 0,
    source: pd.DataFrame | None = None,
    start_row: int = 0,
) -> pd.DataFrame:
    """Draws ``n_rows`` synthetic readings.

    Args:
        n_rows: Number of rows to draw.
        seed: Seed of the random generator; the same seed gives the same rows.
        source: Optional table with the feature columns to resample from.
        start_row: Index of the first row, so chunks drawn one after another
            continue the time axis.

    Returns:
        A frame of ``n_rows`` rows: ``time`` then the three feature columns.
    """
    rng = np.random.default_rng([seed, start_row])
    time = (start_row + np.arange(n_rows)) * _TIME_STEP + _TIME_STEP / 2

    if source is not None and len(source):
        base = source[FEATURE_COLUMNS].to_numpy(dtype="float64")
        picked = base[rng.integers(0, len(base), size=n_rows)]
        spread = base.std(axis=0) * 0.02
        features = picked + rng.normal(0.0, 1.0, size=picked.shape) * spread
    else:
        features = _periodic_signals(time, rng)

    frame = pd.DataFrame(features, columns=FEATURE_COLUMNS)
    frame.insert(0, "time", time)
    return frame


def _periodic_signals(time: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    centres = np.array([52.0, 86.0, 10.8])
    amplitudes = np.array([3.0, 2.5, 1.2])
    periods = np.array([7.0, 11.0, 5.0])
    waves = np.sin(2 * np.pi * time[:, None] / periods + np.array([0.0, 1.0, 2.0]))
    noise = rng.normal(0.0, 0.5, size=waves.shape)
    # About one reading in twenty is a burst well away from the usual range.
    bursts = (rng.random(len(time)) < 0.05)[:, None] * rng.normal(
        0.0, 12.0, size=waves.shape
    )
    return centres + amplitudes * waves + noise + bursts


def write_readings(
    output: Path,
    n_rows: int,
    *,
    seed: int = 0,
    source: pd.DataFrame | None = None,
    chunk_rows: int = 1_000_000,
    row_group_rows: int = 1_000_000,
) -> Path:
    """Writes ``n_rows`` synthetic readings to one Parquet file, chunk by chunk.

    Memory stays bounded by ``chunk_rows`` whatever ``n_rows`` is. The file is
    written under a temporary name and renamed into place when complete.

    Args:
        output: Path of the Parquet file to write; its folder is created.
        n_rows: Number of rows.
        seed: Seed of the random generator.
        source: Optional table to resample from.
        chunk_rows: Rows drawn and written at a time.
        row_group_rows: Largest Parquet row group, the unit readers stream by.

    Returns:
        ``output``.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{uuid.uuid4().hex}.tmp")
    try:
        _write_rows(
            temporary,
            range(n_rows),
            seed=seed,
            source=source,
            chunk_rows=chunk_rows,
            row_group_rows=row_group_rows,
        )
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    logger.info("Wrote %d synthetic readings to %s", n_rows, output)
    return output


def write_partitioned_readings(
    output: Path,
    n_rows: int,
    n_partitions: int,
    *,
    seed: int = 0,
    source: pd.DataFrame | None = None,
    chunk_rows: int = 1_000_000,
    row_group_rows: int = 1_000_000,
) -> Path:
    """Writes ``n_rows`` synthetic readings as a folder of ``n_partitions`` files.

    The files are ``part-00000.parquet`` and on, in time order, with row counts
    differing by at most one; the same arguments give the same files. The folder
    is built under a
    temporary name beside ``output`` and renamed into place when complete; an
    existing ``output`` folder is replaced.

    Args:
        output: Folder to create.
        n_rows: Number of rows in all.
        n_partitions: Number of files, at least 1 and at most ``n_rows``.
        seed: Seed of the random generator.
        source: Optional table to resample from.
        chunk_rows: Rows drawn and written at a time.
        row_group_rows: Largest Parquet row group.

    Returns:
        ``output``.

    Raises:
        ValueError: When ``n_partitions`` is below 1 or above ``n_rows``.
    """
    if not 1 <= n_partitions <= n_rows:
        raise ValueError(
            f"The number of partitions must be from 1 to the number of rows "
            f"({n_rows}); got {n_partitions}."
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{uuid.uuid4().hex}.tmp")
    temporary.mkdir()
    try:
        bounds = np.linspace(0, n_rows, n_partitions + 1).astype("int64")
        for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
            _write_rows(
                temporary / f"part-{index:05d}.parquet",
                range(int(start), int(stop)),
                seed=seed,
                source=source,
                chunk_rows=chunk_rows,
                row_group_rows=row_group_rows,
            )
        if output.exists():
            shutil.rmtree(output)
        temporary.rename(output)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info(
        "Wrote %d synthetic readings in %d files to %s", n_rows, n_partitions, output
    )
    return output


def _write_rows(
    path: Path,
    rows: range,
    *,
    seed: int,
    source: pd.DataFrame | None,
    chunk_rows: int,
    row_group_rows: int,
) -> None:
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(rows.start, rows.stop, chunk_rows):
            chunk = generate_readings(
                min(chunk_rows, rows.stop - start), seed, source, start_row=start
            )
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=row_group_rows)
    finally:
        if writer is not None:
            writer.close()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows to write")
    parser.add_argument(
        "--output", type=Path, required=True, help="Parquet file, or folder"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="write a folder of this many Parquet files (default: one file)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="Parquet table to resample rows from (default: periodic signals)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.partitions < 0 or args.partitions > args.rows:
        parser.error("--partitions must be from 1 to --rows (0: one file)")

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = pd.read_parquet(args.source) if args.source else None
    if args.partitions:
        write_partitioned_readings(
            args.output, args.rows, args.partitions, seed=args.seed, source=source
        )
    else:
        write_readings(args.output, args.rows, seed=args.seed, source=source)


if __name__ == "__main__":
    main()
