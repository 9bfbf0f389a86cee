"""Tests of StageTimingHook."""

from __future__ import annotations

from kedro.pipeline import Node

from shape.hooks.timing import StageTimingHook


def _identity(value):
    return value


def test_durations_add_up_per_stage_and_reach_the_reporting_node():
    hook = StageTimingHook()
    preprocess = Node(_identity, "a", "b", name="first", tags="preprocessing")
    model = Node(_identity, "b", "c", name="second", tags="modelling")
    report = Node(_identity, "stage_durations", "d", name="third", tags="reporting")

    hook.before_pipeline_run()
    for node in (preprocess, model):
        assert hook.before_node_run(node) is None
        hook.after_node_run(node)
    injected = hook.before_node_run(report)

    assert set(injected["stage_durations"]) == {"preprocessing", "modelling"}
    assert all(seconds >= 0 for seconds in injected["stage_durations"].values())
    assert injected["stage_durations"] is not hook.durations
