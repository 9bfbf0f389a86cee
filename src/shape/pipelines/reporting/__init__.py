"""Summarises a scoring run as metrics."""

from shape.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
