"""A rule armed over a service's /_faults acts on its command whichever style invokes it: here the
choreographed saga's, whose events reach the service's consumer (choreography/faults.py
CommandFaults). Real services over HTTP on their own SQLite files, a real broker (embedded NATS;
RabbitMQ with TEST_RABBITMQ_URL); each saga starts as the API starts one, by publishing its
StudentCreated. The deliveries are counted by the consumers' DeliveryFaults, armed with nothing."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from choreography.bus import create_bus
from choreography.config import BrokerConfig
from choreography.events import StudentCreated, to_json
from choreography.faults import DeliveryFaults
from choreography.operations import list_dead_letters, redrive_dead_letters
from choreography.topology import BILLING, ENROLLMENT
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from tests.support.broker import (
    EmbeddedNats,
    delete_rabbitmq_namespace,
    rabbitmq_url,
    unique_namespace,
)
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

MAX_ATTEMPTS = 3


@pytest.fixture(
    scope="module", params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerConfig]:
    if request.param == "nats":
        server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
        server.start()
        try:
            yield BrokerConfig(
                url=server.url, namespace=unique_namespace(), max_attempts=MAX_ATTEMPTS
            )
        finally:
            server.stop()
        return
    url = rabbitmq_url()
    if url is None:
        pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    config = BrokerConfig(url=url, namespace=unique_namespace(), max_attempts=MAX_ATTEMPTS)
    try:
        yield config
    finally:
        asyncio.run(delete_rabbitmq_namespace(config))


@dataclass
class Services:
    enrollment_url: str
    billing_url: str
    deliveries: DeliveryFaults


@pytest.fixture(scope="module")
def services(broker: BrokerConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Enrollment and billing with fault injection on and their consumers on `broker`."""
    data_dir: Path = tmp_path_factory.mktemp("services")
    common: dict[str, Any] = {
        "service_tokens": TEST_SERVICE_TOKEN,
        "fault_injection": True,
        "broker_url": broker.url,
        "broker_namespace": broker.namespace,
        "broker_max_attempts": broker.max_attempts,
    }
    deliveries = DeliveryFaults()
    enrollment = EnrollmentSettings(database_url=f"sqlite:///{data_dir / 'enr.db'}", **common)
    billing = BillingSettings(database_url=f"sqlite:///{data_dir / 'billing.db'}", **common)
    with (
        serve_in_thread(create_enrollment(enrollment, deliveries)) as enrollment_url,
        serve_in_thread(create_billing(billing, deliveries)) as billing_url,
    ):
        yield Services(enrollment_url, billing_url, deliveries)


@dataclass
class Saga:
    broker: BrokerConfig
    enrollment: httpx.AsyncClient
    billing: httpx.AsyncClient
    deliveries: DeliveryFaults

    async def start(self, payment_token: str = "tok_visa") -> str:
        """Publish a new student's StudentCreated, as the API's outbox relay would."""
        created = StudentCreated(
            student_id=f"stu-{uuid.uuid4().hex[:10]}",
            name="Ada Lovelace",
            email="ada@example.com",
            course_id="CS101",
            payment_token=payment_token,
        )
        bus = create_bus(self.broker)
        await bus.start()
        try:
            await bus.publish(created.type, created.event_id, to_json(created))
        finally:
            await bus.close()
        return created.student_id

    async def enrollment_of(self, student_id: str) -> dict[str, Any] | None:
        response = await self.enrollment.get("/enrollments", params={"student_id": student_id})
        found: list[dict[str, Any]] = response.json()
        assert len(found) <= 1
        return found[0] if found else None

    async def charges_of(self, student_id: str) -> list[dict[str, Any]]:
        response = await self.billing.get("/charges", params={"student_id": student_id})
        charges: list[dict[str, Any]] = response.json()
        return charges

    async def ended(self, student_id: str, status: str) -> dict[str, Any]:
        """The student's enrollment, once the saga has brought it to `status`."""
        enrollment: dict[str, Any] | None = None

        async def in_status() -> bool:
            nonlocal enrollment
            enrollment = await self.enrollment_of(student_id)
            return enrollment is not None and enrollment["status"] == status

        await wait_until(in_status)
        assert enrollment is not None
        return enrollment

    async def seats_taken(self) -> int:
        taken: int = (await self.enrollment.get("/courses/CS101")).json()["seats_taken"]
        return taken


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def saga(services: Services, broker: BrokerConfig) -> AsyncIterator[Saga]:
    """The services with no rules and the delivery counts at zero."""
    async with (
        httpx.AsyncClient(
            base_url=services.enrollment_url, headers=SERVICE_HEADERS, timeout=30
        ) as enrollment,
        httpx.AsyncClient(
            base_url=services.billing_url, headers=SERVICE_HEADERS, timeout=30
        ) as billing,
    ):
        for client in (enrollment, billing):
            assert (await client.delete("/_faults")).status_code == 204
        services.deliveries.clear()
        yield Saga(broker, enrollment, billing, services.deliveries)


async def install(client: httpx.AsyncClient, **rule: Any) -> int:
    response = await client.post("/_faults", json=rule)
    assert response.status_code == 201, response.text
    rule_id: int = response.json()["rule_id"]
    return rule_id


async def hits(client: httpx.AsyncClient, rule_id: int) -> int:
    [rule] = [rule for rule in (await client.get("/_faults")).json() if rule["rule_id"] == rule_id]
    count: int = rule["hits"]
    return count


async def test_an_error_before_commit_on_reserve_fails_the_delivery_and_its_redelivery_reserves(
    saga: Saga,
) -> None:
    rule = await install(saga.enrollment, operation="reserve", kind="error_before_commit", count=1)
    seats_before = await saga.seats_taken()

    student = await saga.start()
    enrollment = await saga.ended(student, "CONFIRMED")

    assert saga.deliveries.count(ENROLLMENT, "StudentCreated") == 2
    assert saga.deliveries.handled_count(ENROLLMENT, "StudentCreated") == 1
    assert enrollment["status"] == "CONFIRMED"
    assert await saga.seats_taken() == seats_before + 1
    assert [charge["status"] for charge in await saga.charges_of(student)] == ["CAPTURED"]
    assert await hits(saga.enrollment, rule) == 1


async def test_an_error_before_commit_every_time_spends_the_retry_budget_into_the_dead_letters(
    saga: Saga,
) -> None:
    rule = await install(saga.enrollment, operation="reserve", kind="error_before_commit")

    student = await saga.start()

    async def dead_lettered() -> bool:
        letters = await list_dead_letters(saga.broker)
        return any(letter.student_id == student for letter in letters)

    await wait_until(dead_lettered)
    [letter] = [x for x in await list_dead_letters(saga.broker) if x.student_id == student]
    assert (letter.consumer, letter.event_type) == (ENROLLMENT, "StudentCreated")
    assert letter.attempts == MAX_ATTEMPTS
    assert "reserve was not performed" in letter.error
    assert await saga.enrollment_of(student) is None
    assert await hits(saga.enrollment, rule) == MAX_ATTEMPTS
    # Once the fault is gone, the operator's re-drive completes the saga.
    await saga.enrollment.delete("/_faults")
    await redrive_dead_letters(saga.broker, lambda letter: letter.student_id == student)
    await saga.ended(student, "CONFIRMED")


async def test_an_error_after_commit_on_charge_is_redelivered_and_charges_once(
    saga: Saga,
) -> None:
    rule = await install(saga.billing, operation="charge", kind="error_after_commit", count=1)

    student = await saga.start()
    # The saga goes on as soon as the charge commits; the redelivery comes on its own.
    await saga.ended(student, "CONFIRMED")
    await wait_until(lambda: _true(saga.deliveries.handled_count(BILLING, "SeatReserved") == 2))

    assert saga.deliveries.count(BILLING, "SeatReserved") == 2
    [charge] = await saga.charges_of(student)
    assert charge["status"] == "CAPTURED"
    assert await hits(saga.billing, rule) == 1


async def test_an_error_after_commit_on_a_compensating_cancel_cancels_once(saga: Saga) -> None:
    rule = await install(saga.enrollment, operation="cancel", kind="error_after_commit", count=1)
    seats_before = await saga.seats_taken()

    student = await saga.start(payment_token="tok_declined")
    await saga.ended(student, "CANCELLED")
    await wait_until(
        lambda: _true(saga.deliveries.handled_count(ENROLLMENT, "PaymentDeclined") == 2)
    )

    assert saga.deliveries.count(ENROLLMENT, "PaymentDeclined") == 2
    assert await saga.seats_taken() == seats_before
    assert await hits(saga.enrollment, rule) == 1


async def test_latency_on_confirm_delays_the_delivery_and_the_saga_completes(
    saga: Saga,
) -> None:
    rule = await install(saga.enrollment, operation="confirm", kind="latency", latency_ms=500)

    student = await saga.start()
    await saga.ended(student, "CONFIRMED")

    assert saga.deliveries.count(ENROLLMENT, "PaymentCaptured") == 1
    assert await hits(saga.enrollment, rule) == 1


async def test_one_counted_rule_is_shared_by_the_http_route_and_the_consumer(
    saga: Saga,
) -> None:
    rule = await install(saga.enrollment, operation="reserve", kind="error_before_commit", count=2)

    over_http = await saga.enrollment.post(
        "/enrollments",
        json={"student_id": f"stu-{uuid.uuid4().hex[:10]}", "course_id": "CS101"},
        headers={"Idempotency-Key": f"http-{uuid.uuid4().hex}"},
    )
    student = await saga.start()
    await saga.ended(student, "CONFIRMED")

    assert over_http.status_code == 503
    assert saga.deliveries.count(ENROLLMENT, "StudentCreated") == 2
    assert await hits(saga.enrollment, rule) == 2


async def test_rules_on_commands_no_consumer_performs_leave_every_delivery_alone(
    saga: Saga,
) -> None:
    always = {"kind": "error_before_commit", "probability": 1.0}
    rules = [
        (saga.enrollment, await install(saga.enrollment, operation="withdraw", **always)),
        (saga.billing, await install(saga.billing, operation="refund_part", **always)),
        (saga.billing, await install(saga.billing, operation="reverse_refund", **always)),
    ]

    student = await saga.start()
    await saga.ended(student, "CONFIRMED")

    for consumer, event_type in [
        (ENROLLMENT, "StudentCreated"),
        (BILLING, "SeatReserved"),
        (ENROLLMENT, "PaymentCaptured"),
    ]:
        assert saga.deliveries.count(consumer, event_type) == 1
    assert [await hits(client, rule) for client, rule in rules] == [0, 0, 0]
