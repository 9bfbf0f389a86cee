"""Validates the readings and fits and applies the transform chain."""

from shape.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
