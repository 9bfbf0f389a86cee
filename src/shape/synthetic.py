"""Synthetic vibration readings with the challenge's schema.

``generate_readings`` resamples rows of a source table (the challenge's 295 rows)
with a little noise, or, without a source, draws three noisy periodic signals
with occasional bursts. Either way the columns are ``time`` (unique, increasing)
and ``vibration_x``, ``vibration_y``, ``vibration_z`` (float64).

Run as a command to write a table::

    python -m shape.synthetic --rows 1000000 --output data/01_raw/big.parquet
"""

from __future__ import annotations

import argparse
import logging
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

    Memory stays bounded by ``chunk_rows`` whatever ``n_rows`` is.

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
    temporary = output.with_name(output.name + ".tmp")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, n_rows, chunk_rows):
            chunk = generate_readings(
                min(chunk_rows, n_rows - start), seed, source, start_row=start
            )
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            writer.write_table(table, row_group_size=row_group_rows)
    finally:
        if writer is not None:
            writer.close()
    temporary.replace(output)
    logger.info("Wrote %d synthetic readings to %s", n_rows, output)
    return output


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows to write")
    parser.add_argument("--output", type=Path, required=True, help="Parquet file")
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

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = pd.read_parquet(args.source) if args.source else None
    write_readings(args.output, args.rows, seed=args.seed, source=source)


if __name__ == "__main__":
    main()
