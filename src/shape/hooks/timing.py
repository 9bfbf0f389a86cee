"""``StageTimingHook`` measures how long each pipeline stage of a run takes."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

#: Tags that name a stage; a node's time counts towards the stage it is tagged with.
STAGES = ("preprocessing", "modelling", "reporting", "fit_reference")

#: The node input that receives the durations measured so far.
DURATIONS_INPUT = "stage_durations"


class StageTimingHook:
    """Adds up node wall-clock times per stage, and hands them to reporting.

    The catalog entry ``stage_durations`` is an empty ``MemoryDataset``; before a
    node that takes it runs, this hook replaces that input with the seconds
    spent so far in each stage of the current run. Nodes stay free of clocks.
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self.durations: dict[str, float] = defaultdict(float)
        #: Seconds each node of the current run took, by node name; other hooks
        #: (``shape.hooks.kafka``, ``shape.hooks.mlflow_tracking``) read it.
        self.node_durations: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._started.clear()
        self.durations.clear()
        self.node_durations.clear()

    @hook_impl
    def before_node_run(self, node: Node) -> dict[str, Any] | None:
        self._started[node.name] = time.perf_counter()
        if DURATIONS_INPUT in node.inputs:
            return {DURATIONS_INPUT: dict(self.durations)}
        return None

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        elapsed = time.perf_counter() - self._started.pop(
            node.name, time.perf_counter()
        )
        self.node_durations[node.name] = elapsed
        for stage in STAGES:
            if stage in node.tags:
                self.durations[stage] += elapsed
