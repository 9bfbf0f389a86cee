"""Checks the anomaly model against the chain and scores every reading."""

from shape.pipelines.modelling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
