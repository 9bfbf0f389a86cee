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

    The time spent saving a node's outputs counts towards the node's stage: the
    sklearn engine returns lazy streams, and its scoring runs while the
    ``predictions`` dataset writes them.
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
        self._add(node, self._started.pop(node.name, time.perf_counter()))

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._started[f"{node.name}:{dataset_name}"] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        key = f"{node.name}:{dataset_name}"
        self._add(node, self._started.pop(key, time.perf_counter()))

    def _add(self, node: Node, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.node_durations[node.name] = (
            self.node_durations.get(node.name, 0.0) + elapsed
        )
        for stage in STAGES:
            if stage in node.tags:
                self.durations[stage] += elapsed
