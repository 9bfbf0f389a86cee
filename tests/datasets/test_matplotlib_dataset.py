"""``MatplotlibDataset`` writes a whole image or leaves the old one in place."""

from __future__ import annotations

import pytest
from kedro.io.core import DatasetError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from shape.datasets import MatplotlibDataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _figure() -> Figure:
    figure = Figure(figsize=(2, 1))
    FigureCanvasAgg(figure)
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


def test_saves_a_png_and_no_partial_file(tmp_path):
    target = tmp_path / "plot.png"

    MatplotlibDataset(filepath=str(target), save_args={"dpi": 50}).save(_figure())

    assert target.read_bytes().startswith(PNG_SIGNATURE)
    assert imread(target).shape[:2] == (50, 100)
    assert [path.name for path in tmp_path.iterdir()] == ["plot.png"]


def test_failed_save_keeps_the_previous_image(tmp_path):
    target = tmp_path / "plot.png"
    MatplotlibDataset(filepath=str(target)).save(_figure())
    before = target.read_bytes()

    broken = MatplotlibDataset(filepath=str(target), save_args={"format": "nope"})
    with pytest.raises(DatasetError, match="nope"):
        broken.save(_figure())

    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["plot.png"]


def test_preview_is_the_saved_png(tmp_path):
    dataset = MatplotlibDataset(filepath=str(tmp_path / "plot.png"))
    dataset.save(_figure())

    assert dataset.preview().startswith("iVBORw0KGgo")
