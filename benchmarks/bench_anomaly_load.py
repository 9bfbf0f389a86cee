"""How long ``ScoringRunDataset`` takes to load a million anomalies into PostgreSQL.

Starts a throw-away PostgreSQL 15 server on 127.0.0.1 (durable settings: fsync
on), or uses ``--url``, then measures:

- ``save``: one ``ScoringRunDataset.save`` of a run with N anomalies (default
  1,000,000): migrations check, delete, summary insert, COPY in chunks, commit;
- ``replace``: the same run id saved again, so N old rows are deleted first;
- ``csv``: the client-side share of ``save``, building the CSV chunks only;
- ``executemany``: row-by-row ``INSERT`` of a smaller count (default 20,000)
  through psycopg2's ``executemany``, for the ratio against COPY.

Each step reports wall-clock seconds and the client's CPU seconds; the machine
line gives the load average, as the wall clock depends on how busy it is.

Run from the project root::

    .venv/bin/python benchmarks/bench_anomaly_load.py [--rows 1000000]

It prints the machine and a Markdown table (docs/database.md quotes it).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
from pyarrow import csv as pa_csv

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The throw-away server is the test suite's; the project root makes ``tests``
# importable when this file is run as a script.
sys.path.insert(0, str(PROJECT_ROOT))

from tests.postgres import temporary_postgres  # noqa: E402

from shape.datasets import ScoringRunDataset  # noqa: E402
from shape.datasets.scoring_run_dataset import anomaly_table_chunks  # noqa: E402
from shape.run_record import RunSummary, ScoringRun  # noqa: E402


def make_run(run_id: str, n_anomalies: int) -> ScoringRun:
    """A run whose anomalies look like the challenge's: time, 3 features, score."""
    rng = np.random.default_rng(0)
    anomalies = pd.DataFrame(
        {
            "row_number": np.arange(n_anomalies, dtype="int64") * 10,
            "time": np.arange(n_anomalies) * 0.0041,
            "vibration_x": rng.normal(45, 5, n_anomalies),
            "vibration_y": rng.normal(90, 5, n_anomalies),
            "vibration_z": rng.normal(10, 2, n_anomalies),
            "anomaly_score": -rng.random(n_anomalies),
        }
    )
    summary = RunSummary(
        run_id=run_id,
        started_at=datetime.now(UTC),
        finished_at=datetime.now(UTC),
        status="succeeded",
        engine="sklearn",
        fit_on="batch",
        input_path="benchmark",
        model_sha256=None,
        rows=n_anomalies * 10,
        anomalies=n_anomalies,
        anomaly_rate=0.1,
        mlflow_run_id=None,
        parameters={},
    )
    return ScoringRun(summary=summary, anomalies=anomalies)


def measure(action) -> tuple[float, float]:
    """Wall-clock seconds of ``action`` and this process's CPU seconds in it.

    On a shared machine the wall clock includes waiting for a CPU; the
    client's CPU seconds do not.
    """
    wall, client = time.perf_counter(), _client_cpu()
    action()
    return time.perf_counter() - wall, _client_cpu() - client


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _build_csv(run: ScoringRun) -> None:
    for chunk in anomaly_table_chunks(run, 100_000):
        pa_csv.write_csv(chunk, io.BytesIO(), pa_csv.WriteOptions(include_header=False))


def _executemany(url: str, run: ScoringRun) -> None:
    connection = psycopg2.connect(url)
    rows = [
        row
        for chunk in anomaly_table_chunks(run, 100_000)
        for row in zip(*(column.to_pylist() for column in chunk.columns), strict=True)
    ]
    try:
        with connection, connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO anomalies (run_id, row_number, time, readings, "
                "anomaly_score) VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
    finally:
        connection.close()


def _machine(url: str) -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
            cursor.execute("SHOW fsync")
            fsync = cursor.fetchone()[0]
    finally:
        connection.close()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {memory_gb:.1f} GiB RAM, "
        f"load average {load} at the end (shared machine), "
        f"{platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}; PostgreSQL {server} on the same machine "
        f"(fsync={fsync})"
    )


def run_benchmark(url: str, rows: int, executemany_rows: int) -> str:
    """Runs the measurements against ``url`` and returns the report."""
    dataset = ScoringRunDataset(credentials={"url": url})
    big = make_run("bench-copy", rows)
    small = make_run("bench-executemany", executemany_rows)
    dataset.save(make_run("warm-up", 1000))

    steps = [
        ("build CSV chunks (client only)", rows, lambda: _build_csv(big)),
        ("save, COPY (new run)", rows, lambda: dataset.save(big)),
        ("save, COPY (same run id: delete + COPY)", rows, lambda: dataset.save(big)),
        (
            "save, COPY",
            executemany_rows,
            lambda: dataset.save(make_run("bench-copy-small", executemany_rows)),
        ),
        ("executemany INSERT", executemany_rows, lambda: _executemany(url, small)),
    ]
    table = [
        "| Step | Rows | Wall s | Rows/s (wall) | Client CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    per_row: dict[str, float] = {}
    for name, count, action in steps:
        wall, client = measure(action)
        per_row[f"{name} {count}"] = wall / count
        table.append(
            f"| {name} | {count:,} | {wall:.2f} | {count / wall:,.0f} | {client:.2f} |"
        )

    copy_row = per_row[f"save, COPY (new run) {rows}"]
    insert_row = per_row[f"executemany INSERT {executemany_rows}"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return "\n".join(
        [
            f"Machine: {_machine(url)}",
            "",
            *table,
            "",
            f"COPY is {insert_row / copy_row:,.0f} times faster per row than "
            f"executemany, which would take about {insert_row * rows:,.0f} s for "
            f"{rows:,} rows. Peak client memory (max RSS): {peak_mb:,.0f} MiB.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--executemany-rows", type=int, default=20_000)
    parser.add_argument(
        "--url",
        help="postgresql:// URL of an empty database to use instead of a "
        "throw-away server (its tables get written).",
    )
    args = parser.parse_args()

    if args.url:
        report = run_benchmark(args.url, args.rows, args.executemany_rows)
    else:
        with temporary_postgres(durable=True) as server:
            admin = server.connect()
            with admin.cursor() as cursor:
                cursor.execute("CREATE DATABASE shape_bench")
            admin.close()
            report = run_benchmark(
                server.url("shape_bench"), args.rows, args.executemany_rows
            )
    sys.stdout.write(report + "\n")


if __name__ == "__main__":
    main()
