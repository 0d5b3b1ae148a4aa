"""The rules of retry and reset, on their own: which sagas may run again, and from where.

Reset points are found in the recorded histories of tests/histories (real runs).
"""

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus

from orchestrator.history_steps import step_tries, unfinished_workflow_task
from orchestrator.ops.histories import load_history
from orchestrator.recovery import (
    FailureFilter,
    LatestRun,
    SagaNotResettable,
    reset_point,
    retry_refusal,
)
from sagas import SagaStatus
from workflows import registry
from workflows.contracts import Step

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def latest(execution: WorkflowExecutionStatus, saga: SagaStatus | None) -> LatestRun:
    return LatestRun(registry.ONBOARDING, "ada", "student-onboarding-ada", "run-1", execution, saga)


@pytest.mark.parametrize(
    ("execution", "saga"),
    [
        (WorkflowExecutionStatus.COMPLETED, SagaStatus.COMPENSATED),
        (WorkflowExecutionStatus.COMPLETED, SagaStatus.FAILED),
        (WorkflowExecutionStatus.CANCELED, SagaStatus.COMPENSATED),
    ],
)
def test_a_saga_that_undid_its_steps_or_gave_up_may_be_retried(
    execution: WorkflowExecutionStatus, saga: SagaStatus
) -> None:
    assert retry_refusal(latest(execution, saga)) is None


@pytest.mark.parametrize(
    ("execution", "saga", "reason"),
    [
        (WorkflowExecutionStatus.RUNNING, SagaStatus.RUNNING, "still running"),
        (WorkflowExecutionStatus.RUNNING, SagaStatus.COMPENSATING, "still running"),
        (WorkflowExecutionStatus.COMPLETED, SagaStatus.COMPLETED, "completed"),
        (WorkflowExecutionStatus.TERMINATED, SagaStatus.RUNNING, "reset it"),
        (WorkflowExecutionStatus.TERMINATED, SagaStatus.COMPENSATING, "reset it"),
        (WorkflowExecutionStatus.TIMED_OUT, None, "reset it"),
    ],
)
def test_a_running_completed_or_half_done_saga_is_not_retried(
    execution: WorkflowExecutionStatus, saga: SagaStatus | None, reason: str
) -> None:
    refusal = retry_refusal(latest(execution, saga))

    assert refusal is not None and reason in refusal


def events(name: str) -> list[HistoryEvent]:
    return list(load_history(HISTORIES / f"{name}.json").events)


def event_with_id(history: list[HistoryEvent], event_id: int) -> HistoryEvent:
    [event] = [event for event in history if event.event_id == event_id]
    return event


def task_end(history: list[HistoryEvent], event_id: int) -> EventType.ValueType:
    return event_with_id(history, event_id).event_type


@pytest.mark.parametrize("step", [Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CONFIRM_ENROLLMENT])
def test_a_step_tried_locally_is_reset_to_the_workflow_task_that_recorded_its_try(
    step: Step,
) -> None:
    history = events("completed")

    event_id = reset_point(history, step, "ada")

    [local_try] = [attempt for attempt in step_tries(history) if attempt.step == step]
    assert local_try.local
    assert event_id == local_try.workflow_task_completed_event_id
    assert task_end(history, event_id) == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


def test_a_step_handed_to_a_regular_activity_is_reset_to_its_first_local_try() -> None:
    history = events("transient-billing-outage")

    event_id = reset_point(history, Step.CHARGE_TUITION, "ada")

    charge_tries = [a for a in step_tries(history) if a.step == Step.CHARGE_TUITION]
    assert [a.local for a in charge_tries] == [True, False]
    assert event_id == charge_tries[0].workflow_task_completed_event_id


@pytest.mark.parametrize("step", [Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CONFIRM_ENROLLMENT])
def test_a_step_of_a_run_recorded_before_local_steps_is_reset_to_the_task_that_scheduled_it(
    step: Step,
) -> None:
    history = events("pre-local-forward-steps/completed")

    event_id = reset_point(history, step, "ada")

    assert task_end(history, event_id) == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    scheduled = event_with_id(history, event_id + 1)
    assert scheduled.activity_task_scheduled_event_attributes.activity_type.name == step


def ended_mid_task(history: list[HistoryEvent]) -> list[HistoryEvent]:
    """The run's first workflow task started, and the run was terminated before it ended: the
    server then records the task as failed, then the termination (seen in
    tests/e2e/test_saga_recovery.py)."""
    first_task_started = next(
        e for e in history if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    kept = [e for e in history if e.event_id <= first_task_started.event_id]
    ends = [
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    ]
    return kept + [
        HistoryEvent(event_id=first_task_started.event_id + 1 + i, event_type=end)
        for i, end in enumerate(ends)
    ]


def test_a_run_ended_inside_a_workflow_task_is_reset_to_that_task() -> None:
    """Its local tries were never recorded: the unfinished task is the latest point before
    any step it may have tried."""
    history = ended_mid_task(events("completed"))

    event_id = reset_point(history, Step.CHARGE_TUITION, "ada")

    assert task_end(history, event_id) == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED


def test_a_task_that_timed_out_and_was_run_again_leaves_nothing_unfinished() -> None:
    worker_crash = events("worker-crash")
    assert any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in worker_crash)

    assert unfinished_workflow_task(worker_crash) is None
    assert unfinished_workflow_task(events("completed")) is None


def test_a_compensation_may_have_been_tried_in_an_unfinished_task_too() -> None:
    """Compensations are tried locally first: an unfinished task may hide an undo's try."""
    history = ended_mid_task(events("completed"))

    event_id = reset_point(history, Step.REFUND_CHARGE, "ada")

    assert task_end(history, event_id) == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED


@pytest.mark.parametrize("recorded", ["confirm-refused", "pre-local-compensations/confirm-refused"])
def test_a_compensation_can_be_run_again_from_the_task_that_first_tried_it(recorded: str) -> None:
    history = events(recorded)

    event_id = reset_point(history, Step.REFUND_CHARGE, "ada")

    [refund] = [attempt for attempt in step_tries(history) if attempt.step == Step.REFUND_CHARGE]
    assert refund.workflow_task_completed_event_id == event_id
    assert task_end(history, event_id) == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


@pytest.mark.parametrize("recorded", ["declined", "pre-local-compensations/declined"])
def test_a_step_is_not_run_again_once_the_run_has_undone_steps(recorded: str) -> None:
    """Whether the undo succeeded as a local try or as a regular activity."""
    with pytest.raises(SagaNotResettable, match="already ran cancel_enrollment"):
        reset_point(events(recorded), Step.RESERVE_SEAT, "ada")


def test_a_try_that_failed_is_not_counted_as_done() -> None:
    """A compensation whose local try failed has undone nothing yet; the declined charge is
    such a failed local try, recorded."""
    [charge] = [a for a in step_tries(events("declined")) if a.step == Step.CHARGE_TUITION]
    [reservation] = [a for a in step_tries(events("declined")) if a.step == Step.RESERVE_SEAT]

    assert charge.local and not charge.succeeded
    assert reservation.local and reservation.succeeded


def test_a_step_the_run_never_reached_has_no_reset_point() -> None:
    with pytest.raises(SagaNotResettable, match="never scheduled charge_tuition"):
        reset_point(events("course-full"), Step.CHARGE_TUITION, "ada")


def test_a_failure_filter_picks_runs_by_the_step_and_reason_in_their_memo() -> None:
    timed_out = {"failed_step": "charge_tuition", "failure_reason": "Gave up after the deadline"}
    declined = {"failed_step": "charge_tuition", "failure_reason": "Card declined"}
    course_full = {"failed_step": "reserve_seat", "failure_reason": "Course is full"}
    billing_gave_up = FailureFilter(Step.CHARGE_TUITION, "DEADLINE")

    assert [billing_gave_up.admits(memo) for memo in (timed_out, declined, course_full)] == [
        True,
        False,
        False,
    ]
    assert FailureFilter().admits({}) and not FailureFilter(Step.RESERVE_SEAT).admits({})
