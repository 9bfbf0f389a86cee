"""Nodes of the reporting pipeline: summarise a scoring run, and record it."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from shape.chain import FittedChain
from shape.engines import ReadingsCheck, get_engine
from shape.run_record import STATUS_SUCCEEDED, RunContext, RunSummary, ScoringRun

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


def build_run_record(
    predictions: Any,
    scoring_metrics: ScoringMetrics,
    run_context: RunContext,
    parameters: dict[str, Any],
) -> ScoringRun:
    """Builds the database record of the run: its summary and its anomalies.

    Args:
        predictions: Output of ``score_readings``: the reading columns,
            ``prediction`` and ``anomaly_score``, one row per reading.
        scoring_metrics: Output of ``compute_metrics``; gives the row and
            anomaly counts.
        run_context: Run id, start and finish times and MLflow run id,
            supplied by ``shape.hooks.run_context.RunContextHook``.
        parameters: All parameters of the run; ``engine``, ``fit_on``,
            ``input_path``, ``modelling.model_sha256`` (the hash the model
            file was verified against when loaded) and
            ``preprocessing.time_column`` / ``feature_columns`` are read, and
            all are kept in the summary.

    Returns:
        The summary (status ``succeeded``) and one row per anomaly:
        ``row_number``, ``time``, the feature columns and ``anomaly_score``.

    Raises:
        ValueError: When ``run_context`` is empty, that is when the hook is not
            registered in ``settings.HOOKS``.
    """
    if not run_context:
        raise ValueError(
            "Input 'run_context' is empty; shape.hooks.run_context.RunContextHook "
            "fills it and must be registered in settings.HOOKS."
        )
    preprocessing = parameters["preprocessing"]
    anomalies = get_engine(parameters["engine"]).select_anomalies(
        predictions, preprocessing["time_column"], preprocessing["feature_columns"]
    )

    summary = RunSummary(
        run_id=run_context["run_id"],
        started_at=run_context["started_at"],
        finished_at=run_context["finished_at"],
        status=STATUS_SUCCEEDED,
        engine=parameters["engine"],
        fit_on=parameters["fit_on"],
        input_path=parameters["input_path"],
        model_sha256=parameters["modelling"]["model_sha256"],
        rows=scoring_metrics["rows"],
        anomalies=scoring_metrics["anomalies"],
        anomaly_rate=scoring_metrics["anomaly_rate"],
        mlflow_run_id=run_context["mlflow_run_id"],
        parameters=dict(parameters),
    )
    logger.info("Run %s: %d anomalies to record", summary["run_id"], len(anomalies))
    return ScoringRun(summary=summary, anomalies=anomalies)
