"""Properties 3, 4 and 5: the worker, the Temporal server and a service are killed with SIGKILL
mid-saga and restarted; the sagas resume and end consistently. A service down past the step's
deadline makes the saga compensate, and the compensation waits for the service to return."""

import asyncio
from collections.abc import Awaitable

from devstack.system import System
from sagas import SagaStatus
from tests.reliability.conftest import FAST, assert_invariants_hold
from workflows.contracts import Step, workflow_id_for


async def at_least(count: Awaitable[int], minimum: int) -> bool:
    return await count >= minimum


async def pending_attempts(system: System, student_id: str, step: Step) -> int:
    """The attempt number of the saga's pending activity for `step` (0 if none)."""
    try:
        handle = system.temporal.get_workflow_handle(workflow_id_for(student_id))
        description = await handle.describe()
    except Exception:
        return 0
    return max(
        (
            pending.attempt
            for pending in description.raw_description.pending_activities
            if pending.activity_type.name == step
        ),
        default=0,
    )


async def test_a_worker_killed_during_a_step_resumes_the_saga_without_a_second_charge(
    system: System,
) -> None:
    billing = system.faults["billing"]
    await billing.install(operation="charge", kind="latency", latency_ms=3000, count=1)
    student_id = await system.start_saga(deadlines=FAST)
    await system.wait_for(lambda: at_least(billing.hits("charge"), 1), "the charge to start")

    await system.kill("worker")
    await system.restart("worker")
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPLETED
    charges = (await system.billing.get("/charges", params={"student_id": student_id})).json()
    assert [charge["status"] for charge in charges] == ["CAPTURED"]
    await assert_invariants_hold(system)


async def test_a_worker_killed_during_compensation_resumes_and_finishes_it(
    system: System,
) -> None:
    enrollment = system.faults["enrollment"]
    await enrollment.install(operation="cancel", kind="latency", latency_ms=3000, count=1)
    student_id = await system.start_saga(payment_token="tok_declined", deadlines=FAST)
    await system.wait_for(lambda: at_least(enrollment.hits("cancel"), 1), "the cancel to start")

    await system.kill("worker")
    await system.restart("worker")
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPENSATED
    assert state.failed_step == Step.CHARGE_TUITION
    assert state.compensated_steps == [Step.CANCEL_ENROLLMENT]
    await assert_invariants_hold(system)


async def test_sagas_in_flight_when_temporal_is_killed_resume_after_it_restarts(
    system: System,
) -> None:
    enrollment = system.faults["enrollment"]
    await enrollment.install(operation="confirm", kind="latency", latency_ms=1500)
    tokens = ["tok_visa"] * 5 + ["tok_declined"] * 2
    student_ids = await asyncio.gather(
        *(system.start_saga(payment_token=token, deadlines=FAST) for token in tokens)
    )
    await system.wait_for(lambda: at_least(enrollment.hits("confirm"), 1), "a confirm to start")

    await system.kill("temporal")
    await system.restart("temporal")
    states = await system.wait_for_all(student_ids)

    assert [states[student_id].status for student_id in student_ids] == [
        SagaStatus.COMPLETED
    ] * 5 + [SagaStatus.COMPENSATED] * 2
    await assert_invariants_hold(system)


async def test_a_saga_waits_for_a_killed_service_and_completes_once_it_is_back(
    system: System,
) -> None:
    await system.kill("billing")
    student_id = await system.start_saga(deadlines=FAST)
    await system.wait_for(
        lambda: at_least(pending_attempts(system, student_id, Step.CHARGE_TUITION), 3),
        "the charge to be retried while billing is down",
    )

    await system.restart("billing")
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPLETED
    await assert_invariants_hold(system)


async def test_a_service_down_past_the_deadline_compensates_and_the_refund_waits_for_it(
    system: System,
) -> None:
    await system.kill("billing")
    student_id = await system.start_saga(deadlines=FAST.model_copy(update={"step_seconds": 3}))
    await system.wait_for(
        lambda: at_least(pending_attempts(system, student_id, Step.REFUND_CHARGE), 3),
        "the refund to be retried while billing is down",
    )
    meanwhile = await system.state(student_id)
    seats = (await system.enrollment.get("/enrollments", params={"student_id": student_id})).json()

    await system.restart("billing")
    state = await system.wait_for_terminal(student_id)

    assert meanwhile is not None and meanwhile.status == SagaStatus.COMPENSATING
    assert [seat["status"] for seat in seats] == ["PENDING"]  # cancelled only after the refund
    assert state.status == SagaStatus.COMPENSATED
    assert state.failed_step == Step.CHARGE_TUITION
    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]
    await assert_invariants_hold(system)
