"""Which steps a saga's history shows being tried, and in which workflow task.

A step or a compensation is tried first as a local activity, which leaves a `MarkerRecorded`
event (marker `core_local_activity`, written by the SDK's core) carrying the activity type, its
result or failure, but not its input; then, if that try did not settle it, as a regular
activity (`ActivityTaskScheduled`, with its input; `ActivityTaskCompleted` when it succeeded).
Histories recorded before the `local-forward-steps` patch hold only regular activities; those
recorded before `local-compensations`, regular compensations.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"
WORKFLOW_TASK_ENDS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    }
)


@dataclass(frozen=True)
class StepTry:
    step: str  # the activity type
    local: bool
    event_id: int  # the ActivityTaskScheduled or MarkerRecorded event
    workflow_task_completed_event_id: int  # the task whose commands recorded it
    succeeded: bool  # a marker without a failure, or a scheduled activity that completed


def step_tries(events: Sequence[HistoryEvent]) -> list[StepTry]:
    """Every try of a step or compensation the history records, in history order."""
    completed = {
        event.activity_task_completed_event_attributes.scheduled_event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    }
    tries = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            tries.append(
                StepTry(
                    scheduled.activity_type.name,
                    False,
                    event.event_id,
                    scheduled.workflow_task_completed_event_id,
                    event.event_id in completed,
                )
            )
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name != LOCAL_ACTIVITY_MARKER:
                continue
            # Core writes this payload itself, as plain JSON: the payload codec never sees it.
            [data] = marker.details["data"].payloads
            tries.append(
                StepTry(
                    json.loads(data.data)["activity_type"],
                    True,
                    event.event_id,
                    marker.workflow_task_completed_event_id,
                    not marker.HasField("failure"),
                )
            )
    return tries


def unfinished_workflow_task(events: Sequence[HistoryEvent]) -> int | None:
    """If the run's last workflow task did not complete (it failed, timed out, or the run was
    terminated while a worker held it, which the server records as a failed task): the id of
    the event that ended it, which is where that task can be reset to. Local activities run
    inside a task and are recorded only when it completes, so such a task may have tried
    steps the history does not show."""
    last_started, last_end = None, None
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            last_started, last_end = event, None
        elif event.event_type in WORKFLOW_TASK_ENDS:
            last_end = event
    if last_started is None:
        return None
    if last_end is None:  # cut off by the run's end with no event for the task itself
        return last_started.event_id + 1 if last_started is not events[-1] else None
    if last_end.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        return None
    return last_end.event_id
