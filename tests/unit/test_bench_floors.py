"""The benchmark's floors (bench/floor.py) and the ratios it reports against them."""

import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.floor import (
    FLOOR_STEPS,
    FloorLocalWorkflow,
    FloorWorkflow,
    floor_step,
)
from bench.ratios import against_base, tail
from bench.run import Mode, uses_process
from tests.support.temporal import unique_task_queue


async def _event_types(env: WorkflowEnvironment, workflow: Any) -> list[int]:
    task_queue = unique_task_queue()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, FloorLocalWorkflow],
        activities=[floor_step],
    ):
        handle = await env.client.start_workflow(
            workflow, FLOOR_STEPS, id=f"floor-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert await handle.result() == FLOOR_STEPS
        return [event.event_type for event in (await handle.fetch_history()).events]


async def test_the_local_floor_runs_its_steps_as_local_activities_recorded_as_markers(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    events = await _event_types(time_skipping_env, FloorLocalWorkflow.run)

    assert events.count(EventType.EVENT_TYPE_MARKER_RECORDED) == FLOOR_STEPS
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events


async def test_the_regular_floor_runs_its_steps_as_activity_tasks(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    events = await _event_types(time_skipping_env, FloorWorkflow.run)

    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == FLOOR_STEPS
    assert EventType.EVENT_TYPE_MARKER_RECORDED not in events


def test_a_floor_costs_only_temporal_and_its_worker_the_other_modes_all_but_the_floor_worker() -> (
    None
):
    assert uses_process(Mode.FLOOR_LOCAL, "temporal")
    assert uses_process(Mode.FLOOR, "floor-worker")
    assert not uses_process(Mode.FLOOR_LOCAL, "api")
    assert uses_process(Mode.ORCHESTRATION, "worker-2")
    assert not uses_process(Mode.ORCHESTRATION, "floor-worker")


def _row(mode: str, per_second: float, cpu_ms: float, p50: float, p99: float) -> dict[str, Any]:
    latency = {"p50": p50, "p99": p99}
    return {
        "mode": mode,
        "sagas_per_second": per_second,
        "cpu_ms_per_saga_total": cpu_ms,
        "latency_ms": latency,
    }


def test_orchestration_is_compared_with_each_other_mode_in_throughput_cpu_and_p50() -> None:
    rows = [
        _row("orchestration", 36.0, 42.0, 100.0, 150.0),
        _row("floor", 40.0, 42.0, 80.0, 120.0),
        _row("floor-local", 72.0, 21.0, 50.0, 60.0),
    ]

    found = against_base(rows)

    assert found == {
        "orchestration/floor": {"throughput": 0.9, "cpu_per_saga": 1.0, "p50": 1.25},
        "orchestration/floor-local": {"throughput": 0.5, "cpu_per_saga": 2.0, "p50": 2.0},
    }
    assert tail(rows[0]) == 1.5


def test_without_orchestration_there_is_nothing_to_compare() -> None:
    assert against_base([_row("floor", 40.0, 42.0, 80.0, 120.0)]) == {}
