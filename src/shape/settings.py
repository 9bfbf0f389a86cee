"""Project settings: hooks, configuration loader and session store."""

from kedro.config import OmegaConfigLoader

from shape.hooks.checks import ParameterCheckHook
from shape.hooks.spark import SparkSessionHook
from shape.hooks.timing import StageTimingHook

HOOKS = (ParameterCheckHook(), StageTimingHook(), SparkSessionHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env>/spark.yml: the Spark session of `engine: sparkml` runs.
    "config_patterns": {"spark": ["spark*", "spark*/**"]},
}

# kedro-mlflow registers its hook through a plugin entry point; it stays off until
# the project configures a tracking store for it (conf/base/mlflow.yml).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
