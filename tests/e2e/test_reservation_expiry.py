"""No half-done choreographed saga: a reservation not confirmed in time expires, its seat is
released and billing keeps no money for it, whether the payment never came (billing down past
the broker's retry budget) or came late.

A deployment of its own, on each broker, with a small retry budget (4 attempts, 1.4 s) and a
reservation TTL well above it (8 s), so that an outage shorter than the budget still completes.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from choreography.config import BrokerConfig
from choreography.events import Event
from choreography.operations import list_dead_letters
from choreography.topology import BILLING
from sagas import SagaStatus
from tests.e2e.conftest import System, deployment, invariant_violations, new_student
from tests.support.broker import (
    EmbeddedNats,
    delete_rabbitmq_namespace,
    rabbitmq_url,
    unique_namespace,
)
from tests.support.credentials import SERVICE_HEADERS

CHOREOGRAPHY = "choreography"
MAX_ATTEMPTS = 4
RESERVATION_TTL_SECONDS = 8.0


@pytest.fixture(
    scope="module", params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
async def expiring_system(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    nats_server: EmbeddedNats,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    url = nats_server.url if request.param == "nats" else rabbitmq_url()
    if url is None:
        pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    broker = BrokerConfig(url=url, namespace=unique_namespace(), max_attempts=MAX_ATTEMPTS)
    data_dir = tmp_path_factory.mktemp(f"expiry-{request.param}")
    ttl = {"reservation_ttl_seconds": RESERVATION_TTL_SECONDS}
    try:
        async with deployment(temporal_env, data_dir, broker, enrollment_settings=ttl) as system:
            yield system
    finally:
        if request.param == "rabbitmq":
            await delete_rabbitmq_namespace(broker)


@pytest.fixture
def system(expiring_system: System) -> Iterator[System]:
    """The expiring deployment, faults cleared and the invariant checker run around each test."""
    expiring_system.delivery_faults.clear()
    known = invariant_violations(expiring_system)
    yield expiring_system
    expiring_system.delivery_faults.clear()
    assert invariant_violations(expiring_system) - known == set()


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_billing_down_past_the_retry_budget_ends_compensated_with_nothing_kept(
    system: System,
) -> None:
    assert system.broker is not None
    system.delivery_faults.fail_next(BILLING, "SeatReserved", times=1_000)
    seats_before = await system.seats_taken()
    # A reservation made over HTTP, as the orchestrated saga makes its own: it has no lease.
    held_over_http = await system.enrollment.post(
        "/enrollments",
        json={"student_id": "stu-held-over-http", "course_id": "CS101"},
        headers={"Idempotency-Key": f"orchestrated-like:{time.monotonic_ns()}:reserve_seat"},
    )
    assert held_over_http.status_code == 201, held_over_http.text
    student = new_student()

    response = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
    assert response.status_code == 202
    saga = await system.wait_for_terminal(student["student_id"])

    letters = await list_dead_letters(system.broker)
    assert [
        (letter.consumer, letter.event_type)
        for letter in letters
        if letter.student_id == student["student_id"]
    ] == [(BILLING, "SeatReserved")]
    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == "charge_tuition"
    assert "reservation expired" in saga["failure_reason"]
    [enrollment] = await system.enrollments_of(student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    assert await system.charges_of(student["student_id"]) == []
    # The orchestrated-style reservation, older than the expired one, is still held.
    still_held = await system.enrollment.get(
        f"/enrollments/{held_over_http.json()['enrollment_id']}"
    )
    assert still_held.json()["status"] == "PENDING"
    assert await system.seats_taken() == seats_before + 1
    await system.enrollment.post(f"/enrollments/{held_over_http.json()['enrollment_id']}/cancel")


async def test_billing_down_for_less_than_the_retry_budget_completes(system: System) -> None:
    system.delivery_faults.fail_next(BILLING, "SeatReserved", times=MAX_ATTEMPTS - 2)
    student = new_student()

    response = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
    assert response.status_code == 202
    saga = await system.wait_for_terminal(student["student_id"])

    assert system.delivery_faults.count(BILLING, "SeatReserved") == MAX_ATTEMPTS - 1
    assert saga["status"] == SagaStatus.COMPLETED
    [enrollment] = await system.enrollments_of(student["student_id"])
    assert enrollment["status"] == "CONFIRMED"
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "CAPTURED"


async def test_a_payment_captured_after_its_reservation_expired_is_refunded(
    system: System,
) -> None:
    student = new_student()
    enrollment_url = str(system.enrollment.base_url)
    billing_url = str(system.billing.base_url)

    async def until_the_reservation_expired(event: Event) -> None:
        if event.student_id == student["student_id"]:
            await _poll(enrollment_url, "/enrollments", event.student_id, _cancelled)

    async def until_the_late_charge_exists(event: Event) -> None:
        if event.student_id == student["student_id"]:
            await _poll(billing_url, "/charges", event.student_id, bool)

    # Billing charges only after the expiry, and hears of the expiry only after it charged.
    system.delivery_faults.before(BILLING, "SeatReserved", until_the_reservation_expired)
    system.delivery_faults.before(BILLING, "EnrollmentCancelled", until_the_late_charge_exists)
    seats_before = await system.seats_taken()

    response = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
    assert response.status_code == 202
    saga = await system.wait_for_terminal(student["student_id"])

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == "confirm_enrollment"
    assert "reservation expired" in saga["failure_reason"]
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "REFUNDED"
    [enrollment] = await system.enrollments_of(student["student_id"])
    assert enrollment["status"] == "CANCELLED"
    assert await system.seats_taken() == seats_before


def _cancelled(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and rows[0]["status"] == "CANCELLED"


async def _poll(
    base_url: str, path: str, student_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> None:
    """Wait, inside a service's consumer (its own event loop, hence its own client), until the
    service's listing of the student's rows satisfies `done`."""
    async with httpx.AsyncClient(base_url=base_url, headers=SERVICE_HEADERS) as client:

        async def satisfied() -> bool:
            rows = (await client.get(path, params={"student_id": student_id})).json()
            return done(rows)

        await wait_until(satisfied)


async def test_a_saga_compensated_by_the_expiry_completes_when_retried_once_billing_is_back(
    system: System,
) -> None:
    system.delivery_faults.fail_next(BILLING, "SeatReserved", times=1_000)
    student = new_student()
    await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
    expired = await system.wait_for_terminal(student["student_id"])
    assert expired["status"] == SagaStatus.COMPENSATED
    system.delivery_faults.clear()  # billing is back

    retried = await system.api.post(f"/sagas/{student['student_id']}/retry")
    assert retried.status_code == 202, retried.text
    saga = await system.wait_for_terminal(student["student_id"])

    assert saga["status"] == SagaStatus.COMPLETED
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "CAPTURED"
