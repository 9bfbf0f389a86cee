"""Engines: the code that does the numeric work of the nodes.

The nodes are the same for every engine; they call the functions of the engine
named by the ``engine`` parameter. Each engine module provides the functions of
``Engine`` for its own kind of data frame: pandas for ``sklearn``, Spark for
``sparkml``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol, TypedDict

import pandas as pd

from shape.chain import ChainStep, FittedChain

#: Engine names accepted by the ``engine`` parameter, and their modules.
ENGINE_MODULES = {
    "sklearn": "shape.engines.sklearn_engine",
    "sparkml": "shape.engines.spark_engine",
}


class PredictionCounts(TypedDict):
    """How many rows were scored, and how many fell in each class."""

    rows: int
    anomalies: int
    inliers: int


class ReadingsCheck(TypedDict):
    """Row count of a readings table and where its invalid values are."""

    rows: int
    invalid_rows: int
    invalid_by_column: dict[str, int]


#: Column of the rejected rows that says why each row was left out.
REJECTED_REASON_COLUMN = "rejected_reason"


class SplitReadings(TypedDict):
    """Readings split by ``split_invalid_rows``.

    Attributes:
        valid: Rows whose feature values are all finite; same columns as the
            input.
        rejected: The other rows: the input columns plus ``rejected_reason``
            (str), such as ``"missing or non-finite: vibration_x, vibration_z"``.
    """

    valid: Any
    rejected: Any


class Engine(Protocol):
    """The functions every engine module provides.

    ``select_anomalies`` returns a pandas frame or, when it is given a stream,
    a ``ReadingBatches`` stream of frames; ``ScoringRun`` takes either.
    """

    def select_readings(
        self, readings: Any, time_column: str, feature_columns: list[str]
    ) -> Any: ...

    def check_readings(
        self, readings: Any, feature_columns: list[str]
    ) -> ReadingsCheck: ...

    def split_invalid_rows(
        self, readings: Any, feature_columns: list[str], any_invalid: bool = True
    ) -> SplitReadings: ...

    def fit_chain(
        self, readings: Any, steps: list[ChainStep], feature_columns: list[str]
    ) -> FittedChain: ...

    def transform_readings(self, readings: Any, chain: FittedChain) -> Any: ...

    def score_features(
        self, model_input_table: Any, model: Any, n_features: int
    ) -> Any: ...

    def count_predictions(self, predictions: Any) -> PredictionCounts: ...

    def select_anomalies(
        self,
        predictions: Any,
        time_column: str,
        feature_columns: list[str],
        first_row: int = 0,
    ) -> Any: ...

    def sample_for_plots(
        self, predictions: Any, max_inliers: int, max_anomalies: int | None = None
    ) -> pd.DataFrame: ...


def get_engine(name: str) -> Engine | ModuleType:
    """Returns the engine module named by the ``engine`` parameter.

    Raises:
        ValueError: When ``name`` is not an engine of ``ENGINE_MODULES``.
    """
    if name not in ENGINE_MODULES:
        raise ValueError(
            f"Parameter 'engine' must be one of {sorted(ENGINE_MODULES)}; got {name!r}."
        )
    return importlib.import_module(ENGINE_MODULES[name])


def feature_names(n_features: int) -> list[str]:
    """Column names of the model input features: ``feature_00`` and on."""
    width = max(2, len(str(n_features - 1)))
    return [f"feature_{index:0{width}d}" for index in range(n_features)]
