"""Property 2: a step whose answer is lost (committed, then a 503 or a dropped connection) is
found again through its idempotency key, never performed twice, and compensated even when the
saga never saw its answer."""

from typing import Any

import pytest

from devstack.system import System
from sagas import SagaStatus
from tests.reliability.conftest import FAST, assert_invariants_hold
from workflows.contracts import Step, workflow_id_for


async def resources(system: System, student_id: str) -> tuple[list[Any], list[Any]]:
    prefix = {"idempotency_key_prefix": workflow_id_for(student_id) + ":"}
    enrollments = (await system.enrollment.get("/enrollments", params=prefix)).json()
    charges = (await system.billing.get("/charges", params=prefix)).json()
    return enrollments, charges


async def test_lost_answers_of_reserve_and_charge_are_retried_into_one_seat_and_one_charge(
    system: System,
) -> None:
    enrollment, billing = system.faults["enrollment"], system.faults["billing"]
    await enrollment.install(operation="reserve", kind="error_after_commit", count=1)
    await billing.install(
        operation="charge", kind="error_after_commit", count=1, drop_connection=True
    )

    student_id = await system.start_saga(deadlines=FAST)
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPLETED
    assert await enrollment.hits("reserve") == 1
    assert await billing.hits("charge") == 1
    [seat], [charge] = await resources(system, student_id)
    assert (seat["enrollment_id"], seat["status"]) == (state.enrollment_id, "CONFIRMED")
    assert (charge["charge_id"], charge["status"]) == (state.charge_id, "CAPTURED")
    await assert_invariants_hold(system)


@pytest.mark.parametrize(
    ("service", "operation", "step", "unseen_id", "charges_after"),
    [
        ("billing", "charge", Step.CHARGE_TUITION, "charge_id", ["REFUNDED"]),
        ("enrollment", "reserve", Step.RESERVE_SEAT, "enrollment_id", []),
    ],
)
async def test_a_step_whose_answer_never_arrives_is_undone_by_its_key_when_the_saga_gives_up(
    system: System,
    service: str,
    operation: str,
    step: Step,
    unseen_id: str,
    charges_after: list[str],
) -> None:
    faults = system.faults[service]
    await faults.install(operation=operation, kind="error_after_commit")
    deadlines = FAST.model_copy(update={"step_seconds": 3})

    student_id = await system.start_saga(deadlines=deadlines)
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPENSATED
    assert state.failed_step == step
    assert getattr(state, unseen_id) is None  # the saga never saw what the step made...
    assert await faults.hits(operation) >= 1
    seats, charges = await resources(system, student_id)
    # ...and its compensation found it by key (the seat is released in both cases)
    assert [seat["status"] for seat in seats] == ["CANCELLED"]
    assert [charge["status"] for charge in charges] == charges_after
    await assert_invariants_hold(system)
