"""``AnomalyScoringModel``: the fitted chain and the anomaly model as one MLflow model.

``shape.hooks.mlflow_tracking`` logs it with every tracked run. Loaded back
with ``mlflow.pyfunc.load_model``, its ``predict`` takes raw readings, one row
per reading with the chain's feature columns, and returns what the run wrote to
``predictions``: ``prediction`` (1 inlier, -1 anomaly) and ``anomaly_score``.

The model's files are the fitted chain as JSON (``FittedChain.to_dict``) and
the estimator as a pickle, so the chain stays readable and engine-neutral; it
scores with the sklearn engine's own functions, so it gives the run's scores.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from shape.chain import FittedChain
from shape.engines import sklearn_engine

#: Names of the model's files in ``context.artifacts``.
CHAIN_ARTIFACT = "fitted_chain"
ESTIMATOR_ARTIFACT = "anomaly_model"


class AnomalyScoringModel(PythonModel):
    """Scores raw vibration readings as the scoring run does."""

    @classmethod
    def from_fitted(cls, chain: FittedChain, estimator: Any) -> AnomalyScoringModel:
        """A ready model built from objects in memory rather than from files."""
        model = cls()
        model._set_up(chain, estimator)
        return model

    def _set_up(self, chain: FittedChain, estimator: Any) -> None:
        self._chain = chain
        self._estimator = estimator

    def load_context(self, context: PythonModelContext) -> None:
        """Rebuilds the scoring pipeline from the model's two files."""
        chain_file = Path(context.artifacts[CHAIN_ARTIFACT])
        chain = FittedChain.from_dict(json.loads(chain_file.read_text("utf-8")))
        # The pickle is the one this model was logged with, by the run itself.
        with Path(context.artifacts[ESTIMATOR_ARTIFACT]).open("rb") as stream:
            estimator = pickle.load(stream)
        self._set_up(chain, estimator)

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Scores every row of ``model_input``.

        Args:
            context: Unused; the pipeline was built by ``load_context``.
            model_input: One row per reading, holding every feature column of
                the chain (``vibration_x``, ``vibration_y``, ``vibration_z``
                for the challenge) as finite numbers; other columns are
                ignored.
            params: Unused.

        Returns:
            One row per input row, same index: ``prediction`` (int64, 1 for an
            inlier, -1 for an anomaly) and ``anomaly_score`` (float64, the
            model's decision function).

        Raises:
            KeyError: When a feature column is missing.
            ValueError: When a feature value is missing or not finite.
        """
        columns = self._chain.feature_columns
        missing = [column for column in columns if column not in model_input]
        if missing:
            raise KeyError(
                f"The readings lack feature column(s) {missing}; the model "
                f"reads {columns} and got {list(model_input.columns)}."
            )
        check = sklearn_engine.check_readings(model_input, columns)
        if check["invalid_rows"]:
            raise ValueError(
                f"{check['invalid_rows']} of {check['rows']} rows have a missing "
                "or non-finite value; invalid values per column: "
                f"{check['invalid_by_column']}."
            )

        # Transformed and scored by the sklearn engine's own functions, so the
        # logged model gives exactly the run's scores.
        readings = model_input[columns].astype("float64").reset_index(drop=True)
        table = sklearn_engine.transform_readings(readings, self._chain)
        scored = sklearn_engine.score_features(
            table, self._estimator, self._chain.n_features_out
        )
        return pd.DataFrame(
            {
                "prediction": scored["prediction"].to_numpy(dtype="int64"),
                "anomaly_score": scored["anomaly_score"].to_numpy(dtype="float64"),
            },
            index=model_input.index,
        )
