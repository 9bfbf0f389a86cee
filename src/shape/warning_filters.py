"""Keeps two known third-party warnings out of the ``kedro`` command's output.

kedro-mlflow's model class
--------------------------

kedro-mlflow's ``KedroPipelineModel`` defines ``predict`` without type hints,
and MLflow 3 warns about that when the class is defined, that is whenever the
``kedro`` command loads the plugin's commands. The warning concerns the plugin's
class, not anything a user of this project can change, and it would break the
rule that a default run prints no warning.

A warnings filter cannot hide it: MLflow's check wraps itself in
``warnings.catch_warnings`` with its own ``simplefilter``, which overrides every
filter installed before it. So ``load_plugins_quietly`` imports the class once,
early (``kedro`` calls it through the ``kedro.init`` entry point in
``pyproject.toml``, before it loads plugins), with a ``showwarning`` that drops
exactly this warning and passes every other one on. Python defines a class once
per process, so the plugin's later import raises nothing.

kedro-viz's JSON responses
--------------------------
kedro-viz 12.5 subclasses FastAPI's ``ORJSONResponse``, which FastAPI 0.131 and
later mark as deprecated with a ``UserWarning`` subclass, so every ``kedro viz``
command (``run``, ``build``) printed it. Again only kedro-viz can change that;
the responses it builds are unaffected. An ordinary warnings filter is enough
here, limited to that message raised from kedro-viz's own modules, and it is
installed at the same early point. ``kedro viz build`` does its work in a forked
child process, which inherits the filter.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

#: Module whose import raises the warning, and text that identifies it.
_PLUGIN_MODULE = "kedro_mlflow.mlflow.kedro_pipeline_model"
_KNOWN_TEXT = "Add type hints to the `predict` method"

#: The FastAPI deprecation kedro-viz triggers, and where it is raised from.
_VIZ_MESSAGE = r"ORJSONResponse is deprecated"
_VIZ_MODULES = r"kedro_viz\."


def load_plugins_quietly() -> None:
    """Imports kedro-mlflow's model class and filters kedro-viz's warning.

    Only the two warnings named in this module's docstring are dropped.
    """
    warnings.filterwarnings(
        "ignore", message=_VIZ_MESSAGE, category=UserWarning, module=_VIZ_MODULES
    )
    show_warning = warnings.showwarning

    def _show_unless_known(message: Any, *args: Any, **kwargs: Any) -> None:
        if _KNOWN_TEXT not in str(message):
            show_warning(message, *args, **kwargs)

    warnings.showwarning = _show_unless_known
    try:
        importlib.import_module(_PLUGIN_MODULE)
    finally:
        warnings.showwarning = show_warning
