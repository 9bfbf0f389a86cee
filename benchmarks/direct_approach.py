"""The direct in-memory approach the benchmark compares the engines with.

Everything at once, as the challenge's notebook would do it: read the whole
table with pandas, ``Pipeline.fit_transform`` the chain, then
``OneClassSVM.predict`` and ``decision_function`` on every row, and write the
predictions with pandas. Run by ``run_benchmark.py`` in its own process::

    python benchmarks/direct_approach.py --input T.parquet --model model.pkl \\
        --chain pipeline.jsonc --output predictions.parquet
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    PolynomialFeatures,
    QuantileTransformer,
    StandardScaler,
)

from shape.chain import parse_chain_spec

_ESTIMATORS = {
    "PolynomialFeatures": PolynomialFeatures,
    "QuantileTransformer": QuantileTransformer,
    "StandardScaler": StandardScaler,
}
FEATURE_COLUMNS = ["vibration_x", "vibration_y", "vibration_z"]


def main() -> None:
    """Scores ``--input`` with the in-memory scikit-learn pipeline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--input", "--model", "--chain", "--output"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args()

    readings = pd.read_parquet(args.input)
    with args.model.open("rb") as stream:
        model = pickle.load(stream)
    pipeline = Pipeline(
        [
            (step.name, _ESTIMATORS[step.transformer](**step.args))
            for step in parse_chain_spec(args.chain)
        ]
    )

    features = pipeline.fit_transform(readings[FEATURE_COLUMNS].to_numpy())
    readings["prediction"] = model.predict(features).astype(np.int64)
    readings["anomaly_score"] = model.decision_function(features)
    readings.to_parquet(args.output, index=False)


if __name__ == "__main__":
    main()
