"""Retrying and resetting sagas on the real system: API -> Temporal -> worker -> services.

What a retry must not do is asserted on the services' own state: a retried saga gets a new
seat and a new charge, it never revives what the previous run cancelled.
"""

import asyncio
import threading
from typing import Any

from common.problems import PROBLEM_JSON
from orchestrator import recovery
from sagas import SagaStatus
from tests.e2e.conftest import System, new_student, run_saga
from tests.support.faulty_proxy import FaultPlan
from workflows.contracts import SagaInput, Step, workflow_id_for


async def run_input(system: System, student_id: str, run_id: str) -> SagaInput:
    handle = system.temporal.get_workflow_handle(workflow_id_for(student_id), run_id=run_id)
    history = await handle.fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    # The client's converter: the system's payloads are encrypted.
    [saga_input] = await system.temporal.data_converter.decode(payloads, [SagaInput])
    assert isinstance(saga_input, SagaInput)
    return saga_input


async def enrollments_keyed_by_run(system: System, student_id: str, run_id: str) -> list[str]:
    """The statuses of the enrollments made under the idempotency keys of a run's chain."""
    prefix = f"{workflow_id_for(student_id)}:{run_id}:"
    response = await system.enrollment.get(
        "/enrollments", params={"student_id": student_id, "idempotency_key_prefix": prefix}
    )
    assert response.status_code == 200, response.text
    return [enrollment["status"] for enrollment in response.json()]


async def latest_run_id(system: System, student_id: str) -> str:
    handle = system.temporal.get_workflow_handle(workflow_id_for(student_id))
    return (await handle.describe()).run_id


async def test_a_declined_saga_retried_with_a_good_card_completes_on_new_resources(
    system: System,
) -> None:
    student = new_student(payment_token="tok_declined")
    student_id = student["student_id"]
    assert (await run_saga(system, student))["status"] == SagaStatus.COMPENSATED
    first_run = await latest_run_id(system, student_id)
    [cancelled] = await system.enrollments_of(student_id)

    response = await system.api.post(
        f"/sagas/{student_id}/retry", json={"payment_token": "tok_visa"}
    )

    assert response.status_code == 202, response.text
    retried = response.json()
    assert retried["previous_run_id"] == first_run
    assert retried["run_id"] not in (first_run, "")
    assert retried["temporal_ui_url"].endswith(
        f"/workflows/{workflow_id_for(student_id)}/{retried['run_id']}/history"
    )
    saga = await system.wait_for_terminal(student_id)
    assert saga["status"] == SagaStatus.COMPLETED
    # A new seat was reserved and charged; the cancelled one stayed cancelled.
    enrollments = {e["enrollment_id"]: e["status"] for e in await system.enrollments_of(student_id)}
    assert enrollments == {
        cancelled["enrollment_id"]: "CANCELLED",
        saga["enrollment_id"]: "CONFIRMED",
    }
    [charge] = await system.charges_of(student_id)
    assert (charge["charge_id"], charge["status"]) == (saga["charge_id"], "CAPTURED")
    # The new run has its own keys, and the event is the previous run's, token corrected.
    assert await enrollments_keyed_by_run(system, student_id, first_run) == ["CANCELLED"]
    assert await enrollments_keyed_by_run(system, student_id, retried["run_id"]) == ["CONFIRMED"]
    event = (await run_input(system, student_id, retried["run_id"])).event
    assert (event.name, event.email, event.payment_token) == (
        student["name"],
        student["email"],
        "tok_visa",
    )


async def test_a_retry_without_a_body_reuses_the_previous_event(system: System) -> None:
    student = new_student(course_id="FULL0")
    await run_saga(system, student)

    response = await system.api.post(f"/sagas/{student['student_id']}/retry")

    assert response.status_code == 202, response.text
    saga = await system.wait_for_terminal(student["student_id"])
    assert (saga["status"], saga["failed_step"]) == (SagaStatus.COMPENSATED, Step.RESERVE_SEAT)
    event = (await run_input(system, student["student_id"], response.json()["run_id"])).event
    assert (event.course_id, event.payment_token) == ("FULL0", student["payment_token"])


async def test_retrying_a_completed_saga_is_a_conflict(system: System) -> None:
    student = new_student()
    await run_saga(system, student)

    response = await system.api.post(f"/sagas/{student['student_id']}/retry")

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "completed" in response.json()["detail"]


async def test_retrying_an_unknown_saga_is_not_found(system: System) -> None:
    response = await system.api.post("/sagas/nobody-at-all/retry")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_retrying_a_running_saga_is_a_conflict(system: System, faults: FaultPlan) -> None:
    charge_arrived = threading.Event()
    release_charge = threading.Event()

    async def hold_the_charge(_: dict[str, Any]) -> None:
        charge_arrived.set()
        await asyncio.to_thread(release_charge.wait, 60)

    faults.before("POST", "/charges", hold_the_charge)
    student = new_student()
    assert (await system.api.post("/students", json=student)).status_code == 202
    try:
        assert await asyncio.to_thread(charge_arrived.wait, 60), "the saga never charged"

        response = await system.api.post(f"/sagas/{student['student_id']}/retry")

        assert response.status_code == 409
        assert "still running" in response.json()["detail"]
    finally:
        release_charge.set()
    assert (await system.wait_for_terminal(student["student_id"]))["status"] == "COMPLETED"


async def test_a_retry_can_correct_the_card_but_not_who_the_student_is(system: System) -> None:
    student = new_student(payment_token="tok_declined")
    await run_saga(system, student)
    url = f"/sagas/{student['student_id']}/retry"

    renamed = await system.api.post(url, json={"name": "Somebody Else"})
    as_text = await system.api.post(
        url, content=b"payment_token=tok_visa", headers={"Content-Type": "text/plain"}
    )

    assert renamed.status_code == 422
    assert renamed.json()["errors"][0]["field"] == "body.name"
    assert as_text.status_code == 415
    assert "application/json" in as_text.json()["detail"]


async def test_a_bulk_retry_lists_then_retries_only_sagas_that_failed(
    system: System, faults: FaultPlan
) -> None:
    # Billing refuses the first two charges (as if the card processor was down), not the third.
    faults.fail_next("POST", "/charges", times=2, status=402)
    refused = [new_student(), new_student()]
    completed = new_student()
    for student in [*refused, completed]:
        await run_saga(system, student)
    ids = ", ".join(f"'{s['student_id']}'" for s in [*refused, completed])
    query = {"query": f"StudentId IN ({ids})"}

    dry_run = await system.api.post("/sagas/retry", json={**query, "dry_run": True})

    assert dry_run.status_code == 200, dry_run.text
    plan = {item["student_id"]: item["action"] for item in dry_run.json()["sagas"]}
    assert plan == {
        refused[0]["student_id"]: "would-retry",
        refused[1]["student_id"]: "would-retry",
        completed["student_id"]: "skipped",
    }
    assert (dry_run.json()["would_retry"], dry_run.json()["retried"]) == (2, 0)
    for item in dry_run.json()["sagas"]:
        assert await latest_run_id(system, item["student_id"]) == item["previous_run_id"]

    retried = await system.api.post("/sagas/retry", json=query)

    assert retried.status_code == 200, retried.text
    assert (retried.json()["retried"], retried.json()["skipped"]) == (2, 1)
    for student in refused:
        assert (await system.wait_for_terminal(student["student_id"]))["status"] == "COMPLETED"
    again = await system.api.post("/sagas/retry", json=query)
    assert (again.json()["retried"], again.json()["skipped"]) == (0, 3)


async def test_a_bulk_retry_with_a_malformed_query_is_invalid(system: System) -> None:
    response = await system.api.post("/sagas/retry", json={"query": "SagaStatus = = 'x'"})

    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-query"


async def test_a_saga_terminated_mid_charge_is_reset_to_the_charge_and_charged_once(
    system: System, faults: FaultPlan
) -> None:
    charge_arrived = threading.Event()
    release_charge = threading.Event()

    async def hold_the_charge(_: dict[str, Any]) -> None:
        charge_arrived.set()
        await asyncio.to_thread(release_charge.wait, 60)

    faults.before("POST", "/charges", hold_the_charge)
    student = new_student()
    student_id = student["student_id"]
    assert (await system.api.post("/students", json=student)).status_code == 202
    try:
        assert await asyncio.to_thread(charge_arrived.wait, 60), "the saga never charged"
        # An operator stops the saga while its charge is in flight; the charge still lands.
        await system.temporal.get_workflow_handle(workflow_id_for(student_id)).terminate()
    finally:
        release_charge.set()
    await wait_for_charges(system, student_id, 1)
    faults.clear()

    refused = await system.api.post(f"/sagas/{student_id}/retry")
    reset = await recovery.reset_saga(system.temporal, student_id, Step.CHARGE_TUITION, "stopped")

    assert refused.status_code == 409 and "reset it" in refused.json()["detail"]
    saga = await system.wait_for_terminal(student_id)
    assert saga["status"] == SagaStatus.COMPLETED
    assert await latest_run_id(system, student_id) == reset.run_id != reset.previous_run_id
    # Same run chain, same idempotency key: the charge that landed is found, not repeated.
    [charge] = await system.charges_of(student_id)
    assert (charge["charge_id"], charge["status"]) == (saga["charge_id"], "CAPTURED")
    [enrollment] = await system.enrollments_of(student_id)
    assert enrollment["status"] == "CONFIRMED"


async def wait_for_charges(system: System, student_id: str, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while len(await system.charges_of(student_id)) < count:
        assert asyncio.get_running_loop().time() < deadline, "the charge never landed"
        await asyncio.sleep(0.1)


async def test_a_bulk_retry_can_pick_sagas_by_the_step_they_failed_at(system: System) -> None:
    declined = new_student(payment_token="tok_declined")
    course_full = new_student(course_id="FULL0")
    for student in (declined, course_full):
        await run_saga(system, student)
    ids = ", ".join(f"'{s['student_id']}'" for s in (declined, course_full))

    response = await system.api.post(
        "/sagas/retry",
        json={
            "query": f'SagaStatus = "COMPENSATED" AND StudentId IN ({ids})',
            "failed_step": "charge_tuition",
            "reason_contains": "declined",
            "dry_run": True,
        },
    )

    assert response.status_code == 200, response.text
    assert [item["student_id"] for item in response.json()["sagas"]] == [declined["student_id"]]
