"""Nodes of the reporting pipeline: summarise a scoring run."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from shape.chain import FittedChain
from shape.engines import ReadingsCheck, get_engine

logger = logging.getLogger(__name__)


class ScoringMetrics(TypedDict):
    """The metrics of one scoring run, as written to ``metrics.json``."""

    engine: str
    fit_on: str
    rows: int
    rows_rejected: int
    features_in: int
    features_out: int
    anomalies: int
    inliers: int
    anomaly_rate: float
    stage_durations_s: dict[str, float]


def compute_metrics(  # noqa: PLR0917 - Kedro passes node inputs by position
    predictions: Any,
    readings_check: ReadingsCheck,
    fitted_chain: FittedChain,
    stage_durations: dict[str, float],
    engine: str,
    fit_on: str,
) -> ScoringMetrics:
    """Counts rows per class and gathers the run's figures.

    Args:
        predictions: Output of ``score_readings``, with a ``prediction`` column
            of 1 (inlier) and -1 (anomaly).
        readings_check: Row counts from ``validate_readings``; gives the rows
            left out (``invalid_rows: drop``).
        fitted_chain: The chain that produced the model input.
        stage_durations: Wall-clock seconds per pipeline that ran in this run
            (preprocessing, modelling), measured by ``shape.hooks.timing``.
        engine: The ``engine`` parameter.
        fit_on: The ``fit_on`` parameter.

    Returns:
        The metrics; ``rows`` counts scored rows, ``rows_rejected`` the rows
        left out as invalid, ``anomaly_rate`` is anomalies over scored rows (0
        for no rows).
    """
    counts = get_engine(engine).count_predictions(predictions)
    rate = counts["anomalies"] / counts["rows"] if counts["rows"] else 0.0

    logger.info(
        "Scored %d rows: %d anomalies (%.2f%%)",
        counts["rows"],
        counts["anomalies"],
        100 * rate,
    )
    return ScoringMetrics(
        engine=engine,
        fit_on=fit_on,
        rows=counts["rows"],
        rows_rejected=readings_check["invalid_rows"],
        features_in=len(fitted_chain.feature_columns),
        features_out=fitted_chain.n_features_out,
        anomalies=counts["anomalies"],
        inliers=counts["inliers"],
        anomaly_rate=rate,
        stage_durations_s={
            stage: round(seconds, 6) for stage, seconds in stage_durations.items()
        },
    )
