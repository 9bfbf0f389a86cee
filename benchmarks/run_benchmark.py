"""Side-by-side benchmark: the direct approach, the sklearn engine, the sparkml engine.

For a given row count it writes (once) a synthetic table resampled from the
challenge's 295 rows, then runs each approach in its own process and measures
wall time, rows per second and peak memory:

- ``direct``: ``benchmarks/direct_approach.py`` (pandas, ``Pipeline.fit_transform``,
  ``OneClassSVM.predict`` and ``decision_function``, all in memory);
- ``sklearn``: a real ``kedro run`` of this project (installed in the running
  virtual environment) in a throw-away copy of its ``conf/``, with
  ``input_path`` pointing at the table;
- ``sparkml``: the same with ``--params=engine=sparkml``; reported as not
  available when this checkout has no ``shape.engines.spark_engine``.

Each engine is run in two scopes (``--scopes``): ``scoring`` runs the
preprocessing and modelling pipelines (read, fit, score, write the
predictions: the work the direct approach does), ``full`` the default
``kedro run``, which adds the reporting pipeline (metrics, the run database,
plots). Hooks (MLflow, Kafka) run in both, as they do in every run. A run
counts only if its predictions hold every row.

Before measuring, each approach runs once on the challenge's 295 rows: that
warms the file cache and writes Python's bytecode caches (the harness lets its
children write them even where PYTHONDONTWRITEBYTECODE is set, since compiling
every imported module again costs Kedro runs tens of seconds); the time of that
run is reported as ``startup s``, the fixed cost of one run.

Peak RSS is the highest sum of the resident memory of the process and all its
descendants (a Spark JVM included), sampled from /proc every 0.1 s; the largest
single process's peak, from the kernel (``wait4``), is shown beside it. Run::

    nice python benchmarks/run_benchmark.py --rows 10000000
    nice python benchmarks/run_benchmark.py --rows 1000000 --profile

Tables go to ``--data-dir`` (default /tmp/shape-benchmark) and are kept for the
next run unless ``--delete-data`` is given. This is a script, not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.dataset

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APPROACHES = ("direct", "sklearn", "sparkml")
#: What an engine's run covers; see ``--scopes``.
SCOPES = ("scoring", "full")
_SCORING_PIPELINES = "preprocessing,modelling"
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Result:
    """One approach's figures; ``status`` is ``ok`` or why there are none."""

    approach: str
    status: str
    rows: int
    scope: str = ""
    wall_s: float | None = None
    rows_per_s: float | None = None
    peak_rss_mb: float | None = None
    largest_process_mb: float | None = None
    startup_s: float | None = None


def main(argv: list[str] | None = None) -> None:
    """Parses the command line, prepares the table and runs the approaches."""
    args = _parse_args(argv)
    table = _ensure_table(args.data_dir, args.rows, args.partitions)
    _say(f"Table: {table} ({_size_mb(table):,.0f} MB, {args.rows:,} rows)")

    results = []
    for approach in args.approaches:
        scopes = ["all"] if approach == "direct" else args.scopes
        for scope in scopes:
            _say(f"Running {approach} ({scope}) ...")
            results.append(_run_approach(approach, scope, table, args))
            _say(f"  {_describe(results[-1])}")
    _say("")
    _say(_format_table(results))

    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    if args.delete_data:
        _remove(table)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows to score")
    parser.add_argument(
        "--approaches",
        type=lambda text: [item for item in text.split(",") if item],
        default=list(APPROACHES),
        help="comma-separated subset of direct,sklearn,sparkml (default: all)",
    )
    parser.add_argument(
        "--scopes",
        type=lambda text: [item for item in text.split(",") if item],
        default=["scoring", "full"],
        help=(
            "what each engine's kedro run covers, comma-separated: 'scoring' "
            "(--pipelines=preprocessing,modelling: read, fit, score, write the "
            "predictions, the work the direct approach does) and 'full' (the "
            "default kedro run, with the reporting pipeline: metrics, database, "
            "plots); default: both"
        ),
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "shape-benchmark"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="write the table as a folder of this many files (default: one file)",
    )
    parser.add_argument(
        "--batch-rows", type=int, default=0, help="override the engine batch size"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run the sklearn engine under cProfile and print where time goes",
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--delete-data", action="store_true", help="delete the table afterwards"
    )
    args = parser.parse_args(argv)
    if sorted(set(args.scopes) - set(SCOPES)):
        parser.error(f"unknown scope(s) in {args.scopes}; expected some of {SCOPES}")
    unknown = sorted(set(args.approaches) - set(APPROACHES))
    if unknown:
        parser.error(f"unknown approach(es) {unknown}; expected some of {APPROACHES}")
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    return args


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _ensure_table(data_dir: Path, rows: int, partitions: int) -> Path:
    name = f"readings_{rows}" + (f"_{partitions}parts" if partitions else ".parquet")
    table = data_dir / name
    if table.exists():
        return table
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "shape.synthetic",
        "--rows",
        str(rows),
        "--output",
        str(table),
        "--source",
        str(_challenge_file("dataset.parquet", "01_raw/readings.parquet")),
    ]
    if partitions:
        command += ["--partitions", str(partitions)]
    subprocess.run(command, check=True)
    return table


def _challenge_file(name: str, placed: str) -> Path:
    """A challenge input, from data/ where `make data` placed it, else shared/."""
    candidates = [
        PROJECT_ROOT / "data" / placed,
        Path(
            os.environ.get("SHAPE_CHALLENGE_DATA", PROJECT_ROOT.parent / "shared/data")
        )
        / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Challenge file '{name}' not found in {[str(c) for c in candidates]}; "
        "run `make data` first."
    )


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(file.stat().st_size for file in files) / 1e6


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _run_approach(
    approach: str, scope: str, table: Path, args: argparse.Namespace
) -> Result:
    if (
        approach == "sparkml"
        and importlib.util.find_spec("shape.engines.spark_engine") is None
    ):
        return Result(
            approach,
            "not available (no shape.engines.spark_engine in this checkout)",
            args.rows,
            scope,
        )

    with tempfile.TemporaryDirectory(prefix=f"shape-bench-{approach}-") as folder:
        work = Path(folder)
        cwd = work if approach == "direct" else _project_copy(work)
        small = _challenge_file("dataset.parquet", "01_raw/readings.parquet")
        startup, *_ = _measure(
            _command(approach, scope, small, work, args.batch_rows), cwd
        )
        command = _command(approach, scope, table, work, args.batch_rows)
        wall, peak_kb, largest_kb, code, log = _measure(command, cwd)
        if code != 0:
            tail = "\n".join(log.splitlines()[-15:])
            return Result(approach, f"failed (exit {code}):\n{tail}", args.rows, scope)
        if approach != "direct":
            scored = _rows_in(cwd / "data/07_model_output/predictions.parquet")
            if scored != args.rows:
                return Result(
                    approach, f"scored {scored} rows, not {args.rows}", args.rows, scope
                )
        if args.profile and approach == "sklearn" and scope == args.scopes[0]:
            _profile(command, cwd)

    return Result(
        approach,
        "ok",
        args.rows,
        scope,
        wall_s=round(wall, 2),
        rows_per_s=round(args.rows / wall),
        peak_rss_mb=round(peak_kb / 1024, 1),
        largest_process_mb=round(largest_kb / 1024, 1),
        startup_s=round(startup, 2),
    )


def _command(
    approach: str, scope: str, table: Path, work: Path, batch_rows: int
) -> list[str]:
    if approach == "direct":
        return _direct_command(table, work)
    return _kedro_command(approach, scope, table, batch_rows)


def _rows_in(predictions: Path) -> int:
    """Rows of a predictions file, or of a folder of Spark's part files."""
    return pyarrow.dataset.dataset(predictions, format="parquet").count_rows()


def _direct_command(table: Path, work: Path) -> list[str]:
    return [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks/direct_approach.py"),
        "--input",
        str(table),
        "--model",
        str(_challenge_file("model.pkl", "06_models/model.pkl")),
        "--chain",
        str(_challenge_file("pipeline.jsonc", "01_raw/pipeline.jsonc")),
        "--output",
        str(work / "predictions.parquet"),
    ]


def _project_copy(work: Path) -> Path:
    """A copy of the project's configuration with an empty data/ and the model."""
    project = work / "project"
    project.mkdir()
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir()
    for layer in (PROJECT_ROOT / "data").iterdir():
        if layer.is_dir():
            (project / "data" / layer.name).mkdir(parents=True)
    shutil.copy(
        _challenge_file("model.pkl", "06_models/model.pkl"),
        project / "data/06_models/model.pkl",
    )
    return project


def _kedro_command(
    approach: str, scope: str, table: Path, batch_rows: int
) -> list[str]:
    params = [f"input_path={table}", f"engine={approach}"]
    if batch_rows:
        params.append(f"batch_rows={batch_rows}")
    kedro = str(Path(sys.executable).with_name("kedro"))
    command = [kedro, "run", f"--params={','.join(params)}"]
    if scope == "scoring":
        command.append(f"--pipelines={_SCORING_PIPELINES}")
    return command


def _measure(command: list[str], cwd: Path) -> tuple[float, int, int, int, str]:
    """Runs ``command``; returns wall s, peak tree RSS KB, largest process KB,
    exit code and output."""
    env = {**_child_env(), "DO_NOT_TRACK": "1"}
    with tempfile.TemporaryFile(mode="w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_rss_kb(process.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    # ru_maxrss is in KB on Linux.
    return wall, max(peak, usage.ru_maxrss), usage.ru_maxrss, process.returncode, output


def _child_env() -> dict[str, str]:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _tree_rss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))

    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            resident_pages = int((Path(f"/proc/{pid}/statm")).read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident_pages * _PAGE_KB
        pending.extend(children.get(pid, []))
    return total


def _profile(command: list[str], cwd: Path) -> None:
    """Runs the kedro command again under cProfile; prints the top functions."""
    output = cwd / "profile.out"
    profiled = [sys.executable, "-m", "cProfile", "-o", str(output), *command]
    subprocess.run(
        profiled,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_child_env(),
    )
    _say("\nProfile of the sklearn engine run (top 20 by own time):")
    stats = pstats.Stats(str(output), stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)


def _describe(result: Result) -> str:
    if result.status != "ok":
        return result.status
    return (
        f"{result.wall_s:.1f} s, {result.rows_per_s:,.0f} rows/s, peak RSS "
        f"{result.peak_rss_mb:,.0f} MB"
    )


def _label(result: Result) -> str:
    return (
        result.approach
        if result.approach == "direct"
        else (f"{result.approach} ({result.scope})")
    )


def _format_table(results: list[Result]) -> str:
    header = (
        f"{'approach':<18} {'wall s':>9} {'rows/s':>12} {'peak RSS MB':>12} "
        f"{'largest proc MB':>16} {'startup s':>9}  {'time vs direct':>14} "
        f"{'RSS vs direct':>13}"
    )
    direct = next((r for r in results if r.approach == "direct" and r.wall_s), None)
    lines = [header, "-" * len(header)]
    for result in results:
        if result.status != "ok":
            lines.append(f"{_label(result):<18} {result.status.splitlines()[0]}")
            continue
        speed = rss = ""
        if direct is not None:
            ratio = direct.wall_s / result.wall_s
            speed = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
            rss = f"{result.peak_rss_mb / direct.peak_rss_mb:.3f}"
        lines.append(
            f"{_label(result):<18} {result.wall_s:>9.1f} {result.rows_per_s:>12,} "
            f"{result.peak_rss_mb:>12,.0f} {result.largest_process_mb:>16,.0f} "
            f"{result.startup_s:>9.1f}  "
            f"{speed:>14} {rss:>13}"
        )
    engines = {(r.approach, r.scope): r for r in results if r.status == "ok"}
    for scope in SCOPES:
        if ("sklearn", scope) in engines and ("sparkml", scope) in engines:
            ratio = engines["sparkml", scope].wall_s / engines["sklearn", scope].wall_s
            lines.append(
                f"{scope}: sparkml takes {ratio:.2f}x the sklearn engine's time"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
