"""The plot nodes: the plot sample, and two plots that mark exactly the anomalies."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from shape.pipelines.reporting.nodes import (
    DECISION_THRESHOLD,
    plot_score_histogram,
    plot_vibration_over_time,
    sample_predictions_for_plots,
)

FEATURES = ["vibration_x", "vibration_y", "vibration_z"]


def _bounds(max_inliers: int, max_anomalies: int = 5_000) -> dict:
    """The ``reporting`` parameters the plot sample reads."""
    return {"max_plot_points": max_inliers, "max_plot_anomalies": max_anomalies}


def _metrics_for(predictions: pd.DataFrame) -> dict:
    anomalies = int((predictions["prediction"] == -1).sum())
    return {
        "rows": len(predictions),
        "anomalies": anomalies,
        "inliers": len(predictions) - anomalies,
    }


def _large_predictions(rows: int, anomalies: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.01, 1.0, rows)
    scores[rng.choice(rows, anomalies, replace=False)] = -rng.uniform(0, 1, anomalies)
    times = np.arange(rows, dtype="float64") / 10
    return pd.DataFrame(
        {
            "time": times,
            "vibration_x": rng.normal(50, 5, rows),
            "vibration_y": rng.normal(80, 5, rows),
            "vibration_z": rng.normal(10, 2, rows),
            "prediction": np.where(scores > 0, 1, -1).astype("int64"),
            "anomaly_score": scores,
        }
    )


def _anomaly_scatter(axes) -> PathCollection:
    (scatter,) = [
        child
        for child in axes.collections
        if isinstance(child, PathCollection) and child.get_label() == "anomaly"
    ]
    return scatter


def _as_set(points: np.ndarray) -> set[tuple[float, float]]:
    return {(float(x), float(y)) for x, y in points}


class TestSamplePredictionsForPlots:
    def test_small_table_is_kept_whole(self, predictions):
        sample = sample_predictions_for_plots(predictions, _bounds(100), "sklearn")

        pd.testing.assert_frame_equal(sample, predictions)

    def test_large_table_keeps_every_anomaly_and_at_most_the_bound(self):
        table = _large_predictions(rows=20_000, anomalies=150)

        sample = sample_predictions_for_plots(table, _bounds(1_000), "sklearn")

        anomalies = table[table["prediction"] == -1]
        assert len(sample) == 1_000 + 150
        assert (sample["prediction"] == 1).sum() == 1_000
        pd.testing.assert_frame_equal(
            sample[sample["prediction"] == -1].reset_index(drop=True),
            anomalies.reset_index(drop=True),
        )
        # Every sampled row is a real row of the table, in the table's order.
        assert sample["time"].is_monotonic_increasing
        assert set(sample["time"]) <= set(table["time"])

    def test_anomalies_beyond_their_bound_are_sampled_by_hash(self):
        table = _large_predictions(rows=20_000, anomalies=8_000)

        sample = sample_predictions_for_plots(table, _bounds(1_000, 300), "sklearn")

        # The 300 anomalous rows whose values hash smallest, in table order.
        anomalies = table[table["prediction"] == -1]
        hashes = pd.util.hash_pandas_object(anomalies, index=False)
        expected = anomalies.loc[hashes.nsmallest(300).index].sort_index()
        assert (sample["prediction"] == 1).sum() == 1_000
        pd.testing.assert_frame_equal(
            sample[sample["prediction"] == -1].reset_index(drop=True),
            expected.reset_index(drop=True),
        )

    def test_the_same_rows_are_drawn_on_every_run(self):
        table = _large_predictions(rows=20_000, anomalies=8_000)

        first = sample_predictions_for_plots(table, _bounds(1_000, 300), "sklearn")
        again = sample_predictions_for_plots(
            table.copy(), _bounds(1_000, 300), "sklearn"
        )

        pd.testing.assert_frame_equal(first, again)

    def test_does_not_change_its_input(self, predictions):
        before = predictions.copy()

        sample_predictions_for_plots(predictions, _bounds(2), "sklearn")

        pd.testing.assert_frame_equal(predictions, before)


class TestPlotScoreHistogram:
    def test_counts_every_row_in_its_class(self, predictions, reporting_params):
        figure = plot_score_histogram(
            predictions, _metrics_for(predictions), reporting_params
        )

        inlier_bars, anomaly_bars = _bars_by_label(figure, "inlier", "anomaly")
        assert sum(bar.get_height() for bar in anomaly_bars) == 3
        assert sum(bar.get_height() for bar in inlier_bars) == 9

    def test_anomaly_bars_lie_left_of_the_threshold_line(
        self, predictions, reporting_params
    ):
        figure = plot_score_histogram(
            predictions, _metrics_for(predictions), reporting_params
        )

        inlier_bars, anomaly_bars = _bars_by_label(figure, "inlier", "anomaly")
        # The row scoring exactly 0 is an anomaly; the bin starting at 0 is the
        # only one allowed to hold both classes.
        assert [
            (bar.get_x(), bar.get_height())
            for bar in anomaly_bars
            if bar.get_height() and bar.get_x() >= DECISION_THRESHOLD
        ] == [(DECISION_THRESHOLD, 1)]
        assert all(
            bar.get_x() >= DECISION_THRESHOLD for bar in inlier_bars if bar.get_height()
        )
        (threshold,) = [
            line for line in figure.axes[0].lines if "threshold" in line.get_label()
        ]
        assert list(threshold.get_xdata()) == [DECISION_THRESHOLD] * 2

    def test_title_says_all_readings_are_drawn(self, predictions, reporting_params):
        figure = plot_score_histogram(
            predictions, _metrics_for(predictions), reporting_params
        )

        assert figure.axes[0].get_title() == (
            "Anomaly scores of all 12 readings (3 anomalies)"
        )

    def test_title_says_when_inliers_are_sampled(self, reporting_params):
        table = _large_predictions(rows=20_000, anomalies=150)
        sample = sample_predictions_for_plots(table, _bounds(1_000), "sklearn")

        figure = plot_score_histogram(sample, _metrics_for(table), reporting_params)

        assert figure.axes[0].get_title() == (
            "Anomaly scores of a sample of 20,000 readings:\n1,000 of 19,850 "
            "inliers and all 150 anomalies"
        )

    def test_title_says_when_both_classes_are_sampled(self, reporting_params):
        table = _large_predictions(rows=20_000, anomalies=8_000)
        sample = sample_predictions_for_plots(table, _bounds(1_000, 300), "sklearn")

        figure = plot_score_histogram(sample, _metrics_for(table), reporting_params)

        assert figure.axes[0].get_title() == (
            "Anomaly scores of a sample of 20,000 readings:\n1,000 of 12,000 "
            "inliers and 300 of 8,000 anomalies"
        )
        _, anomaly_bars = _bars_by_label(figure, "inlier", "anomaly")
        assert sum(bar.get_height() for bar in anomaly_bars) == 300

    def test_title_says_when_only_anomalies_are_sampled(self, reporting_params):
        table = _large_predictions(rows=2_000, anomalies=1_500)
        sample = sample_predictions_for_plots(table, _bounds(5_000, 100), "sklearn")

        figure = plot_score_histogram(sample, _metrics_for(table), reporting_params)

        assert figure.axes[0].get_title() == (
            "Anomaly scores of a sample of 2,000 readings:\nall 500 inliers and "
            "100 of 1,500 anomalies"
        )

    def test_one_distinct_score_still_draws(self, reporting_params):
        single = pd.DataFrame({"prediction": [1, 1], "anomaly_score": [0.25, 0.25]})

        figure = plot_score_histogram(single, _metrics_for(single), reporting_params)

        inlier_bars, _ = _bars_by_label(figure, "inlier", "anomaly")
        assert sum(bar.get_height() for bar in inlier_bars) == 2


class TestPlotVibrationOverTime:
    def test_marks_exactly_the_anomalous_readings(
        self, predictions, preprocessing_params
    ):
        figure = plot_vibration_over_time(
            predictions, _metrics_for(predictions), preprocessing_params
        )

        anomalies = predictions[predictions["prediction"] == -1]
        assert [axes.get_ylabel() for axes in figure.axes] == FEATURES
        for axes, column in zip(figure.axes, FEATURES, strict=True):
            offsets = _anomaly_scatter(axes).get_offsets()
            assert _as_set(offsets) == _as_set(anomalies[["time", column]].to_numpy())
            assert len(offsets) == 3

    def test_draws_every_reading_in_time_order(self, predictions, preprocessing_params):
        figure = plot_vibration_over_time(
            predictions, _metrics_for(predictions), preprocessing_params
        )

        (line,) = figure.axes[0].lines
        np.testing.assert_array_equal(
            line.get_xdata(), np.sort(predictions["time"].to_numpy())
        )

    def test_marks_every_anomaly_of_a_sampled_table(self, preprocessing_params):
        table = _large_predictions(rows=20_000, anomalies=150)
        sample = sample_predictions_for_plots(table, _bounds(500), "sklearn")

        figure = plot_vibration_over_time(
            sample, _metrics_for(table), preprocessing_params
        )

        anomalies = table[table["prediction"] == -1]
        offsets = _anomaly_scatter(figure.axes[1]).get_offsets()
        assert _as_set(offsets) == _as_set(
            anomalies[["time", "vibration_y"]].to_numpy()
        )
        assert figure.get_suptitle().startswith(
            "Vibration over time of a sample of 20,000 readings:\n500 of"
        )

    def test_marks_only_the_sampled_anomalies(self, preprocessing_params):
        table = _large_predictions(rows=20_000, anomalies=8_000)
        sample = sample_predictions_for_plots(table, _bounds(500, 250), "sklearn")

        figure = plot_vibration_over_time(
            sample, _metrics_for(table), preprocessing_params
        )

        sampled_anomalies = sample[sample["prediction"] == -1]
        offsets = _anomaly_scatter(figure.axes[2]).get_offsets()
        assert len(offsets) == 250
        assert _as_set(offsets) == _as_set(
            sampled_anomalies[["time", "vibration_z"]].to_numpy()
        )
        assert figure.get_suptitle() == (
            "Vibration over time of a sample of 20,000 readings:\n500 of 12,000 "
            "inliers and 250 of 8,000 anomalies"
        )

    def test_titles_of_a_100m_row_table_fit_in_the_figures(
        self, preprocessing_params, reporting_params
    ):
        sample = sample_predictions_for_plots(
            _large_predictions(rows=20_000, anomalies=8_000),
            _bounds(5_000, 5_000),
            "sklearn",
        )
        metrics = {
            "rows": 100_000_000,
            "anomalies": 39_999_996,
            "inliers": 60_000_004,
        }

        histogram = plot_score_histogram(sample, metrics, reporting_params)
        timeline = plot_vibration_over_time(sample, metrics, preprocessing_params)

        (suptitle,) = [
            text for text in timeline.texts if text.get_text().startswith("Vib")
        ]
        for figure, title in [
            (histogram, histogram.axes[0].title),
            (timeline, suptitle),
        ]:
            figure.canvas.draw()
            extent = title.get_window_extent()
            assert 0 <= extent.x0 and extent.x1 <= figure.bbox.width
            assert title.get_text().endswith(
                "5,000 of 60,000,004 inliers and 5,000 of 39,999,996 anomalies"
            )

    def test_renders_to_png(self, predictions, preprocessing_params):
        figure = plot_vibration_over_time(
            predictions, _metrics_for(predictions), preprocessing_params
        )

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def _bars_by_label(figure: Figure, *labels: str) -> list[list[Rectangle]]:
    """The bars of each class of a stacked histogram, by legend label."""
    containers = {
        container.patches[0].get_label(): container.patches
        for container in figure.axes[0].containers
    }
    return [containers[label] for label in labels]
