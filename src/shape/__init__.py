"""shape: scores vibration-sensor tables for anomalies with a Kedro pipeline."""

__version__ = "0.1.0"
