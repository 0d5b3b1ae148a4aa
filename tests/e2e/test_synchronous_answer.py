"""`POST /students` with `Prefer: wait=N` (RFC 7240): the saga's end when it comes in time,
the usual 202 otherwise, and nothing different without the header or with a malformed one; in
both modes."""

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from choreography.events import Event
from choreography.topology import BILLING
from sagas import SagaStatus
from tests.e2e.conftest import System, new_student


@pytest.fixture
def held_charges(system: System) -> Iterator[threading.Event]:
    """Every charge waits at billing's door until the event is set."""
    release = threading.Event()

    async def hold(_: dict[str, Any]) -> None:
        while not release.is_set():
            await asyncio.sleep(0.05)

    system.billing_faults.clear()
    system.billing_faults.before("POST", "/charges", hold)
    yield release
    release.set()
    system.billing_faults.clear()


async def test_a_fast_saga_with_prefer_wait_answers_200_with_its_completed_state(
    system: System,
) -> None:
    student = new_student()

    response = await system.api.post("/students", json=student, headers={"Prefer": "wait=20"})

    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "wait=20"
    assert response.headers["Location"].endswith(f"/sagas/{student['student_id']}")
    body = response.json()
    assert body["status"] == SagaStatus.COMPLETED
    assert body["student_id"] == student["student_id"]
    assert body["charge_id"] is not None


async def test_a_compensated_saga_with_prefer_wait_answers_200_with_why(system: System) -> None:
    student = new_student(payment_token="tok_declined")

    response = await system.api.post("/students", json=student, headers={"Prefer": "wait=20"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == SagaStatus.COMPENSATED
    assert response.json()["failure_reason"]


async def test_a_saga_held_past_the_wait_answers_202_while_it_still_runs(
    system: System, held_charges: threading.Event
) -> None:
    student = new_student()

    response = await system.api.post("/students", json=student, headers={"Prefer": "wait=1"})
    meanwhile = (await system.api.get(f"/sagas/{student['student_id']}")).json()
    held_charges.set()
    final = await system.wait_for_terminal(student["student_id"])

    assert response.status_code == 202, response.text
    assert "Preference-Applied" not in response.headers
    assert response.json()["workflow_id"].endswith(student["student_id"])
    # Answered while the charge was still held: the API did not wait for the saga's end.
    assert meanwhile["status"] == SagaStatus.RUNNING
    assert final["status"] == SagaStatus.COMPLETED


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=1.5", "wait", "respond-async"])
async def test_a_malformed_or_other_preference_is_ignored(system: System, prefer: str) -> None:
    student = new_student()

    response = await system.api.post("/students", json=student, headers={"Prefer": prefer})

    assert response.status_code == 202, response.text
    assert "Preference-Applied" not in response.headers
    assert set(response.json()) >= {"student_id", "workflow_id", "status_url"}


async def test_prefer_wait_on_an_ended_saga_posted_again_answers_its_state(
    system: System,
) -> None:
    student = new_student()
    await system.api.post("/students", json=student)
    await system.wait_for_terminal(student["student_id"])

    again = await system.api.post("/students", json=student, headers={"Prefer": "wait=5"})
    plain = await system.api.post("/students", json=student)

    assert again.status_code == 200
    assert again.json()["status"] == SagaStatus.COMPLETED
    assert plain.status_code == 200
    assert "status_url" in plain.json()


async def test_a_choreographed_saga_with_prefer_wait_answers_200_once_the_tracker_sees_its_end(
    choreographed: System,
) -> None:
    student = new_student()

    response = await choreographed.api.post(
        "/students", json={**student, "mode": "choreography"}, headers={"Prefer": "wait=20"}
    )
    tracked = (await choreographed.api.get(f"/sagas/{student['student_id']}")).json()

    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "wait=20"
    assert response.headers["Location"].endswith(f"/sagas/{student['student_id']}")
    assert response.json()["status"] == SagaStatus.COMPLETED
    assert response.json() == tracked  # the tracker's view, as GET /sagas/{id} answers it


async def test_a_compensated_choreographed_saga_with_prefer_wait_answers_200_with_why(
    choreographed: System,
) -> None:
    student = new_student(payment_token="tok_declined")

    response = await choreographed.api.post(
        "/students", json={**student, "mode": "choreography"}, headers={"Prefer": "wait=20"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == SagaStatus.COMPENSATED
    assert response.json()["failure_reason"]


async def test_a_choreographed_saga_held_past_the_wait_answers_202_while_it_still_runs(
    choreographed: System,
) -> None:
    student = new_student()
    release = threading.Event()  # the consumer runs on the service's own thread and loop

    async def hold(_: Event) -> None:
        while not release.is_set():
            await asyncio.sleep(0.05)

    choreographed.delivery_faults.before(BILLING, "SeatReserved", hold)
    response = await choreographed.api.post(
        "/students", json={**student, "mode": "choreography"}, headers={"Prefer": "wait=1"}
    )
    meanwhile = (await choreographed.api.get(f"/sagas/{student['student_id']}")).json()
    release.set()
    final = await choreographed.wait_for_terminal(student["student_id"])

    assert response.status_code == 202, response.text
    assert "Preference-Applied" not in response.headers
    assert response.json()["mode"] == "choreography"
    assert meanwhile["status"] == SagaStatus.RUNNING
    assert final["status"] == SagaStatus.COMPLETED
