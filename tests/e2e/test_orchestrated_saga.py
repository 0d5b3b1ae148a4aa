"""The orchestrated saga end to end: API -> Temporal -> worker -> services, all real.

Each scenario is asserted on the services' own state and on the workflow's history.
"""

from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from tests.e2e.conftest import FULL_COURSE, System, new_student, run_saga
from tests.support.credentials import SERVICE_HEADERS
from tests.support.faulty_proxy import FaultPlan
from workflows.contracts import SagaStatus, Step, workflow_id_for

JSON = {"Content-Type": "application/json"}


async def enrollments_of(system: System, student_id: str) -> list[dict[str, Any]]:
    response = await system.enrollment.get("/enrollments", params={"student_id": student_id})
    enrollments: list[dict[str, Any]] = response.json()
    return enrollments


async def charges_of(system: System, student_id: str) -> list[dict[str, Any]]:
    response = await system.billing.get("/charges", params={"student_id": student_id})
    charges: list[dict[str, Any]] = response.json()
    return charges


async def scheduled_activities(system: System, student_id: str) -> list[str]:
    handle = system.temporal.get_workflow_handle(workflow_id_for(student_id))
    history = await handle.fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_student_with_a_good_card_ends_confirmed_and_charged(system: System) -> None:
    student = new_student()
    saga = await run_saga(system, student)

    assert saga["status"] == SagaStatus.COMPLETED
    assert saga["completed_steps"] == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.CONFIRM_ENROLLMENT,
    ]
    [enrollment] = await enrollments_of(system, student["student_id"])
    [charge] = await charges_of(system, student["student_id"])
    assert enrollment["status"] == "CONFIRMED"
    assert (charge["status"], charge["amount_cents"]) == ("CAPTURED", enrollment["tuition_cents"])
    assert (saga["enrollment_id"], saga["charge_id"]) == (
        enrollment["enrollment_id"],
        charge["charge_id"],
    )
    assert await scheduled_activities(system, student["student_id"]) == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.CONFIRM_ENROLLMENT,
    ]


async def test_a_declined_card_releases_the_seat_and_charges_nothing(system: System) -> None:
    seats_before = (await system.enrollment.get("/courses/CS101")).json()["seats_taken"]
    student = new_student(payment_token="tok_declined")
    saga = await run_saga(system, student)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.CHARGE_TUITION
    assert "declined" in saga["failure_reason"].lower()
    assert saga["compensated_steps"] == [Step.CANCEL_ENROLLMENT]
    [enrollment] = await enrollments_of(system, student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    assert await charges_of(system, student["student_id"]) == []
    seats_after = (await system.enrollment.get("/courses/CS101")).json()["seats_taken"]
    assert seats_after == seats_before


async def test_a_full_course_leaves_nothing_to_compensate(system: System) -> None:
    student = new_student(course_id=FULL_COURSE.course_id)
    saga = await run_saga(system, student)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.RESERVE_SEAT
    assert saga["compensated_steps"] == []
    assert await enrollments_of(system, student["student_id"]) == []
    assert await charges_of(system, student["student_id"]) == []
    assert await scheduled_activities(system, student["student_id"]) == [Step.RESERVE_SEAT]


async def test_a_failed_confirmation_refunds_before_it_cancels(
    system: System, faults: FaultPlan
) -> None:
    # Someone cancels the enrollment while the tuition is being charged, so that the
    # confirmation is refused (409) after the money was taken.
    # The hook runs in the proxy's own thread and event loop, hence its own client.
    async def cancel_the_enrollment_first(charge_request: dict[str, Any]) -> None:
        async with httpx.AsyncClient(
            base_url=system.enrollment.base_url, headers=SERVICE_HEADERS
        ) as enrollment:
            await enrollment.post(f"/enrollments/{charge_request['enrollment_id']}/cancel")

    faults.before("POST", "/charges", cancel_the_enrollment_first)
    student = new_student()
    saga = await run_saga(system, student)

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == Step.CONFIRM_ENROLLMENT
    assert saga["compensated_steps"] == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]
    [charge] = await charges_of(system, student["student_id"])
    assert charge["status"] == "REFUNDED"
    [enrollment] = await enrollments_of(system, student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    assert await scheduled_activities(system, student["student_id"]) == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.CONFIRM_ENROLLMENT,
        Step.REFUND_CHARGE,
        Step.CANCEL_ENROLLMENT,
    ]


async def test_transient_billing_outages_are_retried_until_the_charge_succeeds(
    system: System, faults: FaultPlan
) -> None:
    faults.fail_next("POST", "/charges", times=3)
    student = new_student()
    saga = await run_saga(system, student)

    assert saga["status"] == SagaStatus.COMPLETED
    assert faults.count("POST", "/charges") == 4
    [charge] = await charges_of(system, student["student_id"])
    assert charge["status"] == "CAPTURED"


async def test_posting_the_same_student_twice_starts_one_saga(system: System) -> None:
    student = new_student()
    first = await system.api.post("/students", json=student)
    second = await system.api.post("/students", json=student)

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["run_id"] == second.json()["run_id"]
    assert first.headers["Location"].endswith(f"/sagas/{student['student_id']}")
    await system.wait_for_terminal(student["student_id"])
    executions = [
        execution
        async for execution in system.temporal.list_workflows(
            f'WorkflowId = "{workflow_id_for(student["student_id"])}"'
        )
    ]
    assert len(executions) == 1
    assert len(await enrollments_of(system, student["student_id"])) == 1


async def test_compensated_sagas_can_be_listed_by_their_search_attribute(
    system: System,
) -> None:
    student = new_student(payment_token="tok_insufficient_funds")
    await run_saga(system, student)

    for _ in range(100):  # visibility is eventually consistent
        listed = (await system.api.get("/sagas", params={"status": "COMPENSATED"})).json()
        if any(item["student_id"] == student["student_id"] for item in listed):
            break
    else:
        raise AssertionError("the compensated saga never appeared in the listing")
    assert all(item["status"] == "COMPENSATED" for item in listed)


async def test_a_student_id_is_generated_when_absent_and_the_answer_links_the_ui(
    system: System,
) -> None:
    student = new_student()
    del student["student_id"]
    response = await system.api.post("/students", json=student)

    assert response.status_code == 202
    body = response.json()
    assert body["student_id"]
    assert body["workflow_id"] == workflow_id_for(body["student_id"])
    assert f"/workflows/{body['workflow_id']}/{body['run_id']}" in body["temporal_ui_url"]
    await system.wait_for_terminal(body["student_id"])


async def test_bad_input_to_the_api_gets_problem_details(system: System) -> None:
    text = await system.api.post(
        "/students", content="name=x", headers={"Content-Type": "text/plain"}
    )
    invalid_email = await system.api.post("/students", json={**new_student(), "email": "nope"})
    unknown = await system.api.get("/sagas/nobody-here")

    assert text.status_code == 415
    assert text.headers["content-type"] == "application/problem+json"
    assert "application/json" in text.json()["detail"]
    assert invalid_email.status_code == 422
    assert "email" in invalid_email.json()["detail"]
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("saga-not-found")
