"""Property 6: a compensation that fails transiently many times is retried until it succeeds;
meanwhile the saga says COMPENSATING, and it ends COMPENSATED."""

from collections.abc import Awaitable

from temporalio.api.enums.v1 import EventType

from devstack.system import System
from orchestrator.history_steps import step_tries
from sagas import SagaStatus
from tests.reliability.conftest import FAST, assert_invariants_hold
from workflows.contracts import Step, workflow_id_for

FAILURES = 6


async def test_a_cancel_failing_six_times_is_retried_until_the_saga_is_compensated(
    system: System,
) -> None:
    enrollment = system.faults["enrollment"]
    await enrollment.install(operation="cancel", kind="error_before_commit", count=FAILURES)

    student_id = await system.start_saga(payment_token="tok_declined", deadlines=FAST)
    await system.wait_for(
        lambda: _at_least(enrollment.hits("cancel"), 3), "the cancel to fail three times"
    )
    meanwhile = await system.state(student_id)
    final = await system.wait_for_terminal(student_id)

    assert meanwhile is not None and meanwhile.status == SagaStatus.COMPENSATING
    assert meanwhile.current_step == Step.CANCEL_ENROLLMENT
    assert final.status == SagaStatus.COMPENSATED
    assert final.compensated_steps == [Step.CANCEL_ENROLLMENT]
    assert await enrollment.hits("cancel") == FAILURES
    history = await system.temporal.get_workflow_handle(workflow_id_for(student_id)).fetch_history()
    cancel_tries = [t for t in step_tries(history.events) if t.step == Step.CANCEL_ENROLLMENT]
    assert [(t.local, t.succeeded) for t in cancel_tries] == [(True, False), (False, True)]
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    # The local try took the first failure; the regular activity's last attempt succeeded.
    assert attempts[-1] == FAILURES
    await assert_invariants_hold(system)


async def _at_least(count: Awaitable[int], minimum: int) -> bool:
    return await count >= minimum
