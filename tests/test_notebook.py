"""notebooks/explore_predictions.ipynb runs top to bottom on the challenge data."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from traitlets.config import Config

from tests.conftest import PROJECT_ROOT, copy_project, run_kedro_cli

NOTEBOOK = PROJECT_ROOT / "notebooks" / "explore_predictions.ipynb"
_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory, challenge_dir) -> nbformat.NotebookNode:
    """The notebook after ``kedro run``, executed in a project copy's notebooks/.

    A last cell, added to the copy only, reports the kernel's interpreter.
    """
    project = copy_project(tmp_path_factory.mktemp("nb") / "project", challenge_dir)
    run = run_kedro_cli(project, "run")
    assert run.returncode == 0, run.stderr
    folder = project / "notebooks"
    folder.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")
    )

    # The kernel talks to the client over Unix sockets in the project copy
    # rather than over TCP ports.
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel-ipc")
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        config=config,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return notebook


def _outputs(cell: nbformat.NotebookNode, output_type: str) -> list:
    return [output for output in cell.outputs if output.output_type == output_type]


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    assert all(cell.outputs == [] for cell in code_cells)
    assert all(cell.execution_count is None for cell in code_cells)


def test_notebook_shows_metrics_predictions_and_plots(executed_notebook):
    code_cells = [cell for cell in executed_notebook.cells if cell.cell_type == "code"]
    by_source = {cell.source.splitlines()[0]: cell for cell in code_cells}

    metrics_cell = by_source['metrics = catalog.load("scoring_metrics")']
    (metrics,) = _outputs(metrics_cell, "execute_result")
    assert "'anomalies': 31" in _ANSI_CODES.sub("", metrics.data["text/plain"])

    count_cell = by_source['anomalies = predictions[predictions["prediction"] == -1]']
    printed = "".join(output.text for output in _outputs(count_cell, "stream"))
    assert "31 of 295 readings are anomalies" in printed

    plots = [
        output
        for cell in code_cells
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(plots) == 2

    (interpreter,) = _outputs(code_cells[-1], "stream")
    assert Path(interpreter.text.strip()) == Path(sys.executable)


def test_notebook_prints_no_warning_or_error(executed_notebook):
    text = json.dumps(
        [cell.outputs for cell in executed_notebook.cells if cell.cell_type == "code"]
    ).lower()
    assert "warning" not in text
    assert "traceback" not in text
    assert not [
        output
        for cell in executed_notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
