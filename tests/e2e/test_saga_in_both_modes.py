"""The saga's scenarios, each run orchestrated (Temporal) and choreographed (events on NATS, and
on RabbitMQ when TEST_RABBITMQ_URL is set), against the same real services.

Each is asserted on what a user sees: the saga's status from `GET /sagas/{student_id}` (one
schema for both modes) and the services' own state; orchestrated sagas also on the workflow's
history (the activities it scheduled, in order). Where a scenario needs a fault, it is put
where each mode would meet it: on billing's HTTP endpoint for the orchestrator, on billing's
event consumer for the choreography.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from choreography.events import Event, SeatReserved
from choreography.topology import BILLING
from orchestrator import sagas
from orchestrator.history_steps import step_tries
from sagas import SagaStatus
from tests.e2e.conftest import FULL_COURSE, System, new_student, run_saga
from tests.support.credentials import SERVICE_HEADERS
from workflows.contracts import Step, workflow_id_for

EnrollmentCanceller = Callable[[str], Awaitable[None]]


async def assert_history_tried(
    mode: str, system: System, student_id: str, steps: list[Step]
) -> None:
    """Orchestrated: the workflow's history tried exactly `steps` (each once, locally or as a
    regular activity), in this order. A choreographed saga has no central history; its order
    is the events' causation, which the tracker's projection (the saga's status) reflects."""
    if mode != "orchestration":
        return
    history = await system.temporal.get_workflow_handle(workflow_id_for(student_id)).fetch_history()
    assert [attempt.step for attempt in step_tries(history.events)] == steps


def fail_the_next_charges(mode: str, system: System, times: int) -> None:
    if mode == "orchestration":
        system.billing_faults.fail_next("POST", "/charges", times=times)
    else:
        system.delivery_faults.fail_next(BILLING, "SeatReserved", times=times)


def charge_attempts(mode: str, system: System) -> int:
    if mode == "orchestration":
        return system.billing_faults.count("POST", "/charges")
    return system.delivery_faults.count(BILLING, "SeatReserved")


def before_the_charge(mode: str, system: System, do: EnrollmentCanceller) -> None:
    """Run `do(enrollment_id)` just before billing charges (in billing's own thread)."""
    if mode == "orchestration":

        async def on_request(charge_request: dict[str, Any]) -> None:
            await do(charge_request["enrollment_id"])

        system.billing_faults.before("POST", "/charges", on_request)
    else:

        async def on_event(event: Event) -> None:
            assert isinstance(event, SeatReserved)
            await do(event.enrollment_id)

        system.delivery_faults.before(BILLING, "SeatReserved", on_event)


async def test_a_student_with_a_good_card_ends_confirmed_and_charged(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    student = new_student()
    saga = await run_saga(system, student, mode)

    assert saga["status"] == SagaStatus.COMPLETED
    assert saga["completed_steps"] == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.CONFIRM_ENROLLMENT,
    ]
    [enrollment] = await system.enrollments_of(student["student_id"])
    [charge] = await system.charges_of(student["student_id"])
    assert enrollment["status"] == "CONFIRMED"
    assert (charge["status"], charge["amount_cents"]) == ("CAPTURED", enrollment["tuition_cents"])
    assert (saga["enrollment_id"], saga["charge_id"]) == (
        enrollment["enrollment_id"],
        charge["charge_id"],
    )
    await assert_history_tried(
        mode,
        system,
        student["student_id"],
        [Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CONFIRM_ENROLLMENT],
    )


async def test_a_declined_card_releases_the_seat_and_charges_nothing(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    seats_before = await system.seats_taken()
    student = new_student(payment_token="tok_declined")
    saga = await run_saga(system, student, mode)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.CHARGE_TUITION
    assert "declined" in saga["failure_reason"].lower()
    assert saga["compensated_steps"] == [Step.CANCEL_ENROLLMENT]
    [enrollment] = await system.enrollments_of(student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    assert await system.charges_of(student["student_id"]) == []
    assert await system.seats_taken() == seats_before
    await assert_history_tried(
        mode,
        system,
        student["student_id"],
        [Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CANCEL_ENROLLMENT],
    )


async def test_a_full_course_leaves_nothing_to_compensate(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    student = new_student(course_id=FULL_COURSE.course_id)
    saga = await run_saga(system, student, mode)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.RESERVE_SEAT
    assert saga["compensated_steps"] == []
    assert await system.enrollments_of(student["student_id"]) == []
    assert await system.charges_of(student["student_id"]) == []
    await assert_history_tried(mode, system, student["student_id"], [Step.RESERVE_SEAT])


async def test_a_failed_confirmation_refunds_before_it_cancels(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    enrollment_url = system.enrollment.base_url

    # Someone cancels the enrollment while the tuition is being charged, so that the
    # confirmation is refused after the money was taken.
    async def cancel_the_enrollment(enrollment_id: str) -> None:
        async with httpx.AsyncClient(
            base_url=enrollment_url, headers=SERVICE_HEADERS
        ) as enrollment:
            await enrollment.post(f"/enrollments/{enrollment_id}/cancel")

    before_the_charge(mode, system, cancel_the_enrollment)
    student = new_student()
    saga = await run_saga(system, student, mode)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.CONFIRM_ENROLLMENT
    assert saga["compensated_steps"] == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "REFUNDED"
    [enrollment] = await system.enrollments_of(student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    await assert_history_tried(
        mode,
        system,
        student["student_id"],
        [
            Step.RESERVE_SEAT,
            Step.CHARGE_TUITION,
            Step.CONFIRM_ENROLLMENT,
            Step.REFUND_CHARGE,
            Step.CANCEL_ENROLLMENT,
        ],
    )


async def test_transient_billing_faults_are_retried_until_the_charge_succeeds(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    fail_the_next_charges(mode, system, times=3)
    student = new_student()
    saga = await run_saga(system, student, mode)

    assert saga["status"] == SagaStatus.COMPLETED
    assert charge_attempts(mode, system) == 4
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "CAPTURED"


async def test_posting_the_same_student_twice_runs_one_saga(
    mode_system: tuple[str, System],
) -> None:
    mode, system = mode_system
    student = {**new_student(), "mode": mode}
    first = await system.api.post("/students", json=student)
    second = await system.api.post("/students", json=student)

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.headers["Location"].endswith(f"/sagas/{student['student_id']}")
    saga = await system.wait_for_terminal(student["student_id"])
    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.enrollments_of(student["student_id"])) == 1
    assert len(await system.charges_of(student["student_id"])) == 1


async def test_a_student_with_a_saga_in_one_mode_cannot_start_one_in_the_other(
    system: System,
) -> None:
    orchestrated, choreographed = new_student(), new_student()
    await run_saga(system, orchestrated, "orchestration")
    await run_saga(system, choreographed, "choreography")

    crossed = [
        await system.api.post("/students", json={**orchestrated, "mode": "choreography"}),
        await system.api.post("/students", json={**choreographed, "mode": "orchestration"}),
    ]

    assert [response.status_code for response in crossed] == [409, 409]
    assert all(r.json()["type"].endswith("saga-in-other-mode") for r in crossed)
    assert len(await system.enrollments_of(orchestrated["student_id"])) == 1
    assert len(await system.enrollments_of(choreographed["student_id"])) == 1


async def test_concurrent_posts_of_one_student_in_both_modes_start_one_saga(
    system: System,
) -> None:
    students = [new_student() for _ in range(8)]

    async def post_in_both_modes(index: int, student: dict[str, str]) -> list[httpx.Response]:
        modes = ["orchestration", "choreography"][:: 1 if index % 2 else -1]
        return list(
            await asyncio.gather(
                *(system.api.post("/students", json={**student, "mode": m}) for m in modes)
            )
        )

    answers = await asyncio.gather(
        *(post_in_both_modes(index, student) for index, student in enumerate(students))
    )

    for student, responses in zip(students, answers, strict=True):
        assert sorted(r.status_code for r in responses) == [202, 409], [r.text for r in responses]
        [winner] = [r for r in responses if r.status_code == 202]
        orchestrated = await sagas.saga_exists(system.temporal, student["student_id"])
        assert orchestrated == (winner.json()["mode"] == "orchestration")
        saga = await system.wait_for_terminal(student["student_id"])
        assert saga["status"] == SagaStatus.COMPLETED
        assert len(await system.enrollments_of(student["student_id"])) == 1
        assert len(await system.charges_of(student["student_id"])) == 1
