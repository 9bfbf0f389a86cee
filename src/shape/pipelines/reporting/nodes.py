"""Nodes of the reporting pipeline: summarise a scoring run, record it, plot it.

The plots are drawn from ``plotted_predictions``, a bounded pandas sample of the
predictions (at most ``reporting.max_plot_points`` inliers and
``reporting.max_plot_anomalies`` anomalies), so they cost the same however large
the scored table is and however many of its readings are anomalies. Figures are
built on matplotlib's Agg canvas, which needs no display.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shape.chain import FittedChain
from shape.engines import ReadingsCheck, get_engine
from shape.run_record import STATUS_SUCCEEDED, RunContext, RunSummary, ScoringRun

logger = logging.getLogger(__name__)

#: The model's decision threshold: a reading scoring above it is an inlier.
DECISION_THRESHOLD = 0.0

_INLIER_COLOUR = "#4c72b0"
_ANOMALY_COLOUR = "#c44e52"


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
        The anomalies are what the engine's ``select_anomalies`` gives: for the
        sklearn engine reading a stream, a lazy stream that the database
        dataset reads batch by batch while it writes, so nothing of it is read
        here.

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
    logger.info(
        "Run %s: %d anomalies to record", summary["run_id"], summary["anomalies"]
    )
    return ScoringRun(summary=summary, anomalies=anomalies)


def sample_predictions_for_plots(
    predictions: Any, reporting: dict[str, Any], engine: str
) -> pd.DataFrame:
    """Takes the rows the plots draw: a bounded sample of each class.

    Within each class the rows kept are those whose values hash smallest, so
    every run of the same table draws the same rows; a class with no more rows
    than its bound is kept whole.

    Args:
        predictions: Output of ``score_readings``, with ``prediction`` (1
            inlier, -1 anomaly) and ``anomaly_score`` columns.
        reporting: The ``reporting`` parameters; reads ``max_plot_points``, the
            most inliers to keep, and ``max_plot_anomalies``, the most
            anomalies to keep.
        engine: The ``engine`` parameter.

    Returns:
        A pandas frame with the columns of ``predictions``, one row per plotted
        reading.
    """
    sample = get_engine(engine).sample_for_plots(
        predictions, reporting["max_plot_points"], reporting["max_plot_anomalies"]
    )
    plotted_anomalies = int((sample["prediction"] == -1).sum())
    logger.info(
        "Plotting %d readings: %d inliers and %d anomalies",
        len(sample),
        len(sample) - plotted_anomalies,
        plotted_anomalies,
    )
    return sample


def plot_score_histogram(
    plotted_predictions: pd.DataFrame,
    scoring_metrics: ScoringMetrics,
    reporting: dict[str, Any],
) -> Figure:
    """Draws the histogram of anomaly scores, with the decision threshold.

    Inliers and anomalies are stacked in two colours; a dashed line marks the
    threshold (0). One bin edge falls on the threshold, so a bar holds one class
    only; the exception is a score of exactly 0, an anomaly in the first bar
    right of the line.

    Args:
        plotted_predictions: Output of ``sample_predictions_for_plots``.
        scoring_metrics: Output of ``compute_metrics``; gives the totals that
            the title compares the sample with.
        reporting: The ``reporting`` parameters; reads ``histogram_bins``.

    Returns:
        The figure, one axes.
    """
    is_anomaly = plotted_predictions["prediction"].to_numpy() == -1
    scores = plotted_predictions["anomaly_score"].to_numpy(dtype="float64")
    edges = _bin_edges(scores, reporting["histogram_bins"])

    figure = _new_figure(height=4.0)
    axes = figure.add_subplot()
    axes.hist(
        [scores[~is_anomaly], scores[is_anomaly]],
        bins=edges,
        stacked=True,
        color=[_INLIER_COLOUR, _ANOMALY_COLOUR],
        label=["inlier", "anomaly"],
    )
    axes.axvline(
        DECISION_THRESHOLD,
        color="black",
        linestyle="--",
        label=f"decision threshold ({DECISION_THRESHOLD:g})",
    )
    axes.set_xlabel("anomaly score (decision function)")
    axes.set_ylabel("readings")
    caption = _sample_caption(is_anomaly, scoring_metrics)
    axes.set_title(f"Anomaly scores of {caption}")
    axes.legend()
    return figure


def plot_vibration_over_time(
    plotted_predictions: pd.DataFrame,
    scoring_metrics: ScoringMetrics,
    preprocessing: dict[str, Any],
) -> Figure:
    """Draws each vibration axis over time, with the anomalous readings marked.

    Args:
        plotted_predictions: Output of ``sample_predictions_for_plots``.
        scoring_metrics: Output of ``compute_metrics``; gives the totals that
            the title compares the sample with.
        preprocessing: The ``preprocessing`` parameters; reads ``time_column``
            and ``feature_columns`` (one panel per feature column).

    Returns:
        The figure: one axes per feature column, sharing the time axis. In each,
        a line through every plotted reading and one scatter (labelled
        ``anomaly``) of the anomalous readings' (time, value) points.
    """
    time_column = preprocessing["time_column"]
    feature_columns = list(preprocessing["feature_columns"])
    ordered = plotted_predictions.sort_values(time_column, kind="stable")
    is_anomaly = ordered["prediction"].to_numpy() == -1
    times = ordered[time_column].to_numpy()

    figure = _new_figure(height=1.0 + 1.8 * len(feature_columns))
    all_axes = figure.subplots(len(feature_columns), 1, sharex=True, squeeze=False)
    for axes, column in zip(all_axes[:, 0], feature_columns, strict=True):
        _draw_readings(axes, times, ordered[column].to_numpy(), is_anomaly)
        axes.set_ylabel(column)
    figure.legend(
        *all_axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=2
    )
    all_axes[-1, 0].set_xlabel(time_column)
    caption = _sample_caption(is_anomaly, scoring_metrics)
    figure.suptitle(f"Vibration over time of {caption}")
    return figure


def _draw_readings(
    axes: Axes, times: np.ndarray, values: np.ndarray, is_anomaly: np.ndarray
) -> None:
    axes.plot(times, values, color=_INLIER_COLOUR, linewidth=0.8, label="reading")
    axes.scatter(
        times[is_anomaly],
        values[is_anomaly],
        s=18,
        color=_ANOMALY_COLOUR,
        zorder=3,
        label="anomaly",
    )


def _new_figure(height: float) -> Figure:
    figure = Figure(figsize=(9.0, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _bin_edges(scores: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width edges covering ``scores``, with one edge on the threshold."""
    if len(scores) == 0:
        return np.array([DECISION_THRESHOLD - 1.0, DECISION_THRESHOLD + 1.0])
    low = min(scores.min(), DECISION_THRESHOLD)
    high = max(scores.max(), DECISION_THRESHOLD)
    width = (high - low) / bins if high > low else 1.0
    first = DECISION_THRESHOLD + np.floor((low - DECISION_THRESHOLD) / width) * width
    count = int(np.ceil((high - first) / width)) + 1
    return first + width * np.arange(count + 1)


def _sample_caption(is_anomaly: np.ndarray, metrics: ScoringMetrics) -> str:
    """Says which readings a plot shows: all of them, or how many of each class.

    ``is_anomaly`` holds one boolean per plotted reading. A sample takes two
    lines, so that a title stays inside the figure at any table size, for
    example "a sample of 100,000,000 readings:" then "5,000 of 60,000,000
    inliers and 5,000 of 40,000,000 anomalies".
    """
    plotted_anomalies = int(is_anomaly.sum())
    plotted_inliers = len(is_anomaly) - plotted_anomalies
    if len(is_anomaly) >= metrics["rows"]:
        return f"all {metrics['rows']:,} readings ({metrics['anomalies']:,} anomalies)"
    inliers = _share_caption(plotted_inliers, metrics["inliers"], "inliers")
    anomalies = _share_caption(plotted_anomalies, metrics["anomalies"], "anomalies")
    return f"a sample of {metrics['rows']:,} readings:\n{inliers} and {anomalies}"


def _share_caption(plotted: int, total: int, noun: str) -> str:
    if plotted >= total:
        return f"all {total:,} {noun}"
    return f"{plotted:,} of {total:,} {noun}"
