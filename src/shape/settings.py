"""Project settings: hooks, configuration loader and session store."""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from shape.hooks.checks import ParameterCheckHook, PipelineInputsHook
from shape.hooks.kafka import KafkaEventsHook
from shape.hooks.mlflow_tracking import MlflowTrackingHook
from shape.hooks.run_context import RunContextHook
from shape.hooks.spark import SparkSessionHook
from shape.hooks.timing import StageTimingHook
from shape.warning_filters import load_plugins_quietly

# The `kedro` command runs this early through its `kedro.init` entry point.
# Sessions started without that command (the notebook's `%reload_kedro`, or
# `KedroSession` in tests) read these settings before Kedro loads the plugins'
# hooks, so running it here too keeps their output just as clean.
load_plugins_quietly()

# One clock for the run; the Kafka and MLflow hooks read its durations.
TIMING = StageTimingHook()

# kedro-mlflow's own hook (installed as a plugin) opens and closes the MLflow
# run; MlflowTrackingHook adds this project's records to it. Where order
# matters, the hooks say so with tryfirst/trylast: ParameterCheckHook and
# PipelineInputsHook run first so that bad parameters, or a run missing the
# nodes that make its in-memory inputs, stop it before anything is opened on a
# broker or a tracking server. Among the tryfirst before_pipeline_run hooks
# pluggy calls the last registered first, so this tuple's order gives theirs:
# PipelineInputsHook, RunContextHook, then SparkSessionHook, whose session then
# starts before the MLflow run and the Kafka producer open (a JVM that cannot
# start leaves neither behind).
HOOKS = (
    SparkSessionHook(),
    RunContextHook(),
    ParameterCheckHook(),
    PipelineInputsHook(),
    TIMING,
    KafkaEventsHook(TIMING),
    MlflowTrackingHook(TIMING),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        # globals_*.yml lets `make data` record the synthetic model's hash in a
        # file of its own (conf/local/globals_synthetic.yml), not in the user's.
        "globals": ["globals.yml", "globals_*.yml"],
        # conf/<env>/spark.yml: the Spark session of `engine: sparkml` runs.
        "spark": ["spark*", "spark*/**"],
        # connections*.yml files are read as credentials too (Kedro resolves
        # ${oc.env:...} in credentials only). conf/base/connections.yml holds no
        # secret, only the name of the environment variable that does, so it is
        # committed; real secrets stay in conf/local/credentials.yml or the
        # environment. See docs/database.md.
        "credentials": [
            "credentials*",
            "credentials*/**",
            "**/credentials*",
            "connections*",
        ],
        # conf/<env>/kafka.yml and mlflow.yml: run events and tracking.
        "kafka": ["kafka*", "kafka*/**", "**/kafka*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
    # kafka.yml and mlflow.yml read KAFKA_* and MLFLOW_TRACKING_URI with
    # ${oc.env:NAME, default}; Kedro only allows that in credentials unless
    # the resolver is registered here.
    "custom_resolvers": {"oc.env": oc.env},
}

# Plugins register hooks through entry points. kedro-mlflow's is on: it opens
# and closes the MLflow run (conf/base/mlflow.yml). kedro-viz's records run
# events for its workflow view, but logs a warning on every partial run
# (`--tags`, `--pipeline`) and writes .viz/ into the project; the lineage view
# and `kedro viz build` do not need it.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)
