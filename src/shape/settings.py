"""Project settings: hooks, configuration loader and session store."""

from kedro.config import OmegaConfigLoader

from shape.hooks.checks import ParameterCheckHook
from shape.hooks.timing import StageTimingHook
from shape.warning_filters import load_plugins_quietly

# The `kedro` command runs this early through its `kedro.init` entry point.
# Sessions started without that command (the notebook's `%reload_kedro`, or
# `KedroSession` in tests) read these settings before Kedro loads the plugins'
# hooks, so running it here too keeps their output just as clean.
load_plugins_quietly()

HOOKS = (ParameterCheckHook(), StageTimingHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}

# kedro-mlflow registers its hook through a plugin entry point; it stays off until
# the project configures a tracking store for it (conf/base/mlflow.yml).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
