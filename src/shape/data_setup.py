"""Places the inputs of a scoring run in the project's ``data/`` folders.

With the challenge files at hand (``../shared/data`` beside the project, or the
folder named by ``SHAPE_CHALLENGE_DATA``) they are copied in. Without them, a
synthetic stand-in is written: readings from ``shape.synthetic``, the same
transform chain, and a ``OneClassSVM`` trained here on those readings, so that
``kedro run`` works on any clone; the stand-in model's SHA-256 is recorded in
``conf/local/globals_synthetic.yml`` so that the run accepts it. Files already in
place are left alone.

Run as ``python -m shape.data_setup``.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import shutil
from pathlib import Path

from sklearn.svm import OneClassSVM

from shape.chain import parse_chain_spec, read_jsonc_steps
from shape.datasets.verified_pickle_dataset import file_sha256
from shape.engines import sklearn_engine
from shape.synthetic import FEATURE_COLUMNS, generate_readings

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Challenge file -> where the project keeps it, relative to the project root.
CHALLENGE_FILES = {
    "dataset.parquet": "data/01_raw/readings.parquet",
    "model.pkl": "data/06_models/model.pkl",
    "pipeline.jsonc": "data/01_raw/pipeline.jsonc",
    "expected_predictions.csv": "data/01_raw/expected_predictions.csv",
}

#: Where set-up records the synthetic model's SHA-256, which overrides the
#: challenge model's hash in conf/base/globals.yml (see ``record_model_hash``).
SYNTHETIC_GLOBALS = "conf/local/globals_synthetic.yml"

#: The challenge's table also serves as the reference table of `fit_on: reference`.
REFERENCE_PATH = "data/01_raw/reference_readings.parquet"

_SYNTHETIC_ROWS = 2_000

_SYNTHETIC_CHAIN_SPEC = """\
// Transform chain of the synthetic stand-in: the challenge's chain.
{
    "steps": {
        "reduce_dim": {"PolynomialFeatures": {"degree": 2}},
        "qtransf": {"QuantileTransformer": {"output_distribution": "normal"}},
        "poly_feature": {"PolynomialFeatures": {"degree": 2}},
        "stdscaler": {"StandardScaler": {"with_mean": true, "with_std": true}}
    }
}
"""


def default_challenge_dir(project_root: Path = PROJECT_ROOT) -> Path:
    """Where the challenge files are looked for."""
    configured = os.environ.get("SHAPE_CHALLENGE_DATA")
    return Path(configured) if configured else project_root.parent / "shared" / "data"


def place_inputs(project_root: Path, challenge_dir: Path) -> str:
    """Copies the challenge files in, or writes the synthetic stand-in.

    Args:
        project_root: Folder holding ``conf/`` and ``data/``.
        challenge_dir: Folder that may hold the four challenge files.

    Returns:
        ``"challenge"`` or ``"synthetic"``: which inputs are in place.
    """
    if all((challenge_dir / name).is_file() for name in CHALLENGE_FILES):
        for name, target in CHALLENGE_FILES.items():
            _copy_if_changed(challenge_dir / name, project_root / target)
        _copy_if_changed(
            challenge_dir / "dataset.parquet", project_root / REFERENCE_PATH
        )
        # The challenge model's hash is the one in conf/base/globals.yml.
        (project_root / SYNTHETIC_GLOBALS).unlink(missing_ok=True)
        logger.info("Challenge inputs from %s are in data/", challenge_dir)
        return "challenge"

    if _write_synthetic_inputs(project_root):
        logger.info(
            "No challenge files in %s: wrote a synthetic stand-in (%d readings "
            "and a OneClassSVM trained on them) to data/",
            challenge_dir,
            _SYNTHETIC_ROWS,
        )
    else:
        logger.info(
            "No challenge files in %s: kept the inputs already in data/",
            challenge_dir,
        )
    return "synthetic"


def _copy_if_changed(source: Path, target: Path) -> None:
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, temporary)
    temporary.replace(target)


def _write_synthetic_inputs(project_root: Path) -> bool:
    """Writes the stand-in unless inputs are in place; True when it wrote."""
    readings_path = project_root / CHALLENGE_FILES["dataset.parquet"]
    model_path = project_root / CHALLENGE_FILES["model.pkl"]
    spec_path = project_root / CHALLENGE_FILES["pipeline.jsonc"]
    if readings_path.is_file() and model_path.is_file() and spec_path.is_file():
        return False

    readings = generate_readings(_SYNTHETIC_ROWS, seed=0)
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(_SYNTHETIC_CHAIN_SPEC, encoding="utf-8")
    steps = parse_chain_spec(read_jsonc_steps(spec_path))
    chain = sklearn_engine.fit_chain(readings, steps, FEATURE_COLUMNS)
    model_input = sklearn_engine.transform_readings(readings, chain)
    features = model_input.drop(columns=readings.columns).to_numpy()
    model = OneClassSVM(gamma="auto", nu=0.1).fit(features)

    readings.to_parquet(readings_path, index=False)
    readings.to_parquet(project_root / REFERENCE_PATH, index=False)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with model_path.open("wb") as stream:
        pickle.dump(model, stream)
    record_model_hash(project_root, file_sha256(model_path))
    return True


def record_model_hash(project_root: Path, sha256: str) -> Path:
    """Writes the model hash the run must expect to ``SYNTHETIC_GLOBALS``.

    Only set-up calls this, right after it pickles the stand-in model itself:
    the hash then vouches for bytes this project wrote. A model obtained any
    other way gets its hash from whoever provides it, never from the file.

    Args:
        project_root: Folder holding ``conf/``.
        sha256: SHA-256 of the stand-in model's bytes.

    Returns:
        The path written.
    """
    path = project_root / SYNTHETIC_GLOBALS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `python -m shape.data_setup` (make data) with the synthetic\n"
        "# stand-in model it trained, because the challenge files were absent.\n"
        "# Delete this file when the real model is placed in data/06_models/.\n"
        f"model_sha256: {sha256}\n",
        encoding="utf-8",
    )
    logger.info("Recorded the stand-in model's SHA-256 in %s", SYNTHETIC_GLOBALS)
    return path


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--challenge-dir",
        type=Path,
        default=None,
        help="folder with the challenge files (default: ../shared/data)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    place_inputs(Path.cwd(), args.challenge_dir or default_challenge_dir(Path.cwd()))


if __name__ == "__main__":
    main()
