"""The static kedro-viz site of the project, built and opened in headless Chromium.

The module builds the site once (``kedro run`` then ``kedro viz build`` in a copy
of the project), serves it on a free 127.0.0.1 port, and loads it in Debian's
``chromium`` with every name outside 127.0.0.1 unresolvable. Chromium's network
log then shows that nothing was fetched from outside the machine.

With ``SHAPE_DOCS_IMAGES=<folder>`` set, the screenshots and the run's two plots
are also copied into that folder (``make docs-images`` refreshes docs/images/).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread

from shape.pipeline_registry import register_pipelines
from tests.conftest import PROJECT_ROOT, copy_project, run_kedro_cli

CHROMIUM = Path("/usr/bin/chromium")
STAGES = ("preprocessing", "modelling", "reporting")
PLOTS = {
    "anomaly_score_histogram": "anomaly_score_histogram.png",
    "vibration_over_time_plot": "vibration_over_time.png",
}

#: Chromium flags: headless, no background traffic of its own, no QUIC, and
#: every host name except 127.0.0.1 mapped to "not found", so the page can reach
#: only the test's server (the built index.html links Google Fonts).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=1600,1000",
    "--hide-scrollbars",
    # Virtual time skips idle waits and stands still while fetches are pending,
    # so the page gets 20 s of its own time to load the api/ files and lay out
    # the graph, however slow the machine.
    "--virtual-time-budget=20000",
    # Draws each frame completely before time moves on, so that a screenshot
    # shows the page at rest rather than halfway through a transition.
    "--run-all-compositor-stages-before-draw",
)


@pytest.fixture(scope="module")
def viz_project(tmp_path_factory, challenge_dir) -> Path:
    """A copy of the project after both pipelines ran on the challenge data.

    ``fit_reference`` runs too, so that every file dataset has a file to preview.
    """
    project = copy_project(tmp_path_factory.mktemp("viz") / "project", challenge_dir)
    for args in (("run", "--pipelines=fit_reference"), ("run",)):
        run = run_kedro_cli(project, *args)
        assert run.returncode == 0, run.stderr
    return project


@pytest.fixture(scope="module")
def viz_build(viz_project) -> subprocess.CompletedProcess:
    """The output of ``kedro viz build --include-previews`` in ``viz_project``."""
    return run_kedro_cli(viz_project, "viz", "build", "--include-previews")


@pytest.fixture(scope="module")
def viz_site(viz_project, viz_build) -> Path:
    site = viz_project / "build"
    assert (site / "api" / "main").is_file(), viz_build.stdout + viz_build.stderr
    return site


@pytest.fixture(scope="module")
def site_url(viz_site) -> Iterator[str]:
    """Serves the built site on a free port of 127.0.0.1 until the module ends."""
    handler = functools.partial(_QuietHandler, directory=str(viz_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="module")
def main_response(viz_site) -> dict:
    return json.loads((viz_site / "api" / "main").read_text())


def _node_ids(main_response: dict) -> dict[str, str]:
    return {node["name"]: node["id"] for node in main_response["nodes"]}


class TestStaticBuild:
    def test_build_succeeds_without_warnings(self, viz_build):
        output = viz_build.stdout + viz_build.stderr
        assert viz_build.returncode == 0
        assert "Success! Kedro-Viz build files have been added" in output
        assert "warning" not in output.lower()
        assert "error" not in output.lower()

    def test_site_carries_no_analytics(self, viz_site):
        # With telemetry consent false (.telemetry), kedro-viz leaves out its
        # Heap analytics snippet.
        index = (viz_site / "index.html").read_text().lower()
        assert "<script" in index
        assert "heap" not in index

    def test_lists_the_three_pipelines_and_their_tags(self, main_response):
        pipeline_ids = [pipeline["id"] for pipeline in main_response["pipelines"]]
        tag_ids = {tag["id"] for tag in main_response["tags"]}
        assert set(STAGES) <= set(pipeline_ids)
        assert set(STAGES) <= tag_ids

    def test_shows_every_dataset_and_parameter_of_every_pipeline(self, viz_site):
        catalog = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())
        shown_anywhere = set()
        for name, pipeline in register_pipelines().items():
            response = json.loads((viz_site / "api/pipelines" / name).read_text())
            shown = {node["name"] for node in response["nodes"]}
            assert pipeline.datasets() <= shown, name
            shown_anywhere |= shown
        # Keys starting with "_" are YAML anchors for other entries, not datasets.
        datasets = {name for name in catalog if not name.startswith("_")}
        assert datasets <= shown_anywhere
        assert {
            "params:engine",
            "params:fit_on",
            "params:preprocessing",
            "params:reporting",
        } <= shown_anywhere

    @pytest.mark.parametrize("dataset", sorted(PLOTS))
    def test_previews_the_plots_as_images(self, viz_site, main_response, dataset):
        details = json.loads(
            (viz_site / "api/nodes" / _node_ids(main_response)[dataset]).read_text()
        )
        assert details["preview_type"] == "ImagePreview"
        assert details["preview"].startswith("iVBORw0KGgo")  # base64 of a PNG


class TestInChromium:
    @pytest.mark.parametrize("stage", STAGES)
    def test_page_shows_the_node_names_of_each_pipeline(
        self, site_url, tmp_path, stage
    ):
        pipelines = register_pipelines()
        others = {
            node.name
            for name in STAGES
            if name != stage
            for node in pipelines[name].nodes
        }

        page = _chromium(tmp_path, f"{site_url}/?pid={stage}", "--dump-dom")

        dom = page.stdout
        missing = [node.name for node in pipelines[stage].nodes if node.name not in dom]
        assert not missing, f"Nodes of '{stage}' not rendered: {missing}"
        assert not [name for name in others if name in dom]
        _assert_stayed_on_the_machine(tmp_path / "net-log.json")

    def test_screenshot_of_the_whole_run(self, site_url, viz_site, tmp_path):
        url = f"{site_url}/{_with_settings(viz_site, 'whole-run', 'pid=__default__')}"
        screenshot = tmp_path / "kedro_viz_pipeline.png"

        _chromium(
            tmp_path, url, "--window-size=1400,1500", f"--screenshot={screenshot}"
        )

        _assert_is_a_drawn_png(screenshot, width=1400, height=1500)
        _assert_stayed_on_the_machine(tmp_path / "net-log.json")
        _copy_to_docs(screenshot)

    def test_plot_preview_opens_in_the_side_panel(
        self, site_url, viz_site, main_response, tmp_path
    ):
        histogram_id = _node_ids(main_response)["anomaly_score_histogram"]
        url = _with_settings(
            viz_site,
            "histogram",
            f"pid=__default__&sid={histogram_id}&sn=anomaly_score_histogram",
        )
        screenshot = tmp_path / "kedro_viz_plot_preview.png"

        page = _chromium(tmp_path / "dom", f"{site_url}/{url}", "--dump-dom")
        _chromium(tmp_path / "shot", f"{site_url}/{url}", f"--screenshot={screenshot}")

        (tmp_path / "dom.html").write_text(page.stdout)
        expected = [
            "Anomaly Score Histogram",
            "Validate Readings",
            'src="data:image/png;base64,iVBORw0KGgo',
        ]
        missing = [text for text in expected if text not in page.stdout]
        assert not missing, f"{missing} not in the page; see {tmp_path / 'dom.html'}"
        _assert_is_a_drawn_png(screenshot, width=1600, height=1000)
        _assert_stayed_on_the_machine(tmp_path / "dom" / "net-log.json")
        _copy_to_docs(screenshot)

    def test_run_plots_are_valid_images(self, viz_project):
        for filename in PLOTS.values():
            plot = viz_project / "data/08_reporting" / filename
            _assert_is_a_drawn_png(plot)
            _copy_to_docs(plot)


def _with_settings(site: Path, name: str, query: str) -> str:
    """Adds a page that applies a user's settings, then opens the app at ``query``.

    The settings (pretty names, light theme, no feature tour) are stored the way
    the app stores a user's own choices, in local storage of the same origin;
    the built site itself is left as ``kedro viz build`` wrote it.

    Returns:
        The page's path relative to the site root.
    """
    page = f"settings-then-{name}.html"
    (site / page).write_text(
        "<!DOCTYPE html><script>"
        'localStorage.setItem("KedroViz", JSON.stringify({isPrettyName: true, '
        'showFeatureHints: false, theme: "light"}));'
        f'location.replace("./?{query}");'
        "</script>"
    )
    return page


def _chromium(folder: Path, url: str, *action: str) -> subprocess.CompletedProcess:
    """Loads ``url`` in a fresh headless Chromium profile kept in ``folder``.

    The network log goes to ``folder/net-log.json``. Chromium is started in its
    own process group, so a hang ends with the whole group killed.
    """
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing; `make chromium` installs it"
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        str(CHROMIUM),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={folder / 'profile'}",
        f"--log-net-log={folder / 'net-log.json'}",
        *action,
        url,
    ]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    assert process.returncode == 0, stderr[-3000:]
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _assert_stayed_on_the_machine(net_log: Path) -> None:
    """Checks Chromium connected to 127.0.0.1 only and sent no UDP datagram.

    Chromium may still open a UDP socket towards a public address without
    sending on it: that is how it asks the kernel which route, and so which IPv6
    address, it would use. Such a ``connect`` puts nothing on the wire.
    """
    log = json.loads(net_log.read_text())
    event_names = {
        code: name for name, code in log["constants"]["logEventTypes"].items()
    }
    local, outside, datagrams = 0, [], 0
    for event in log["events"]:
        name = event_names[event["type"]]
        params = event.get("params", {})
        if name == "TCP_CONNECT" and "remote_address" in params:
            if params["remote_address"].startswith("127.0.0.1:"):
                local += 1
            else:
                outside.append(params["remote_address"])
        datagrams += name == "UDP_BYTES_SENT"
    assert local > 0, "the network log shows no connection at all"
    assert outside == []
    assert datagrams == 0


def _assert_is_a_drawn_png(
    path: Path, width: int | None = None, height: int | None = None
) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    if width is not None:
        assert pixels.shape[:2] == (height, width)
    # A blank or single-colour image would mean nothing was drawn.
    assert pixels[..., :3].std() > 0.05


def _copy_to_docs(image: Path) -> None:
    folder = os.environ.get("SHAPE_DOCS_IMAGES")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, Path(folder) / image.name)
