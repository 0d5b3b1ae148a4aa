"""The worker's HTTP clients (orchestrator/clients.py) against the real services over HTTP, on
SQLite and PostgreSQL: what the transfer saga's activities will call, and how each refusal
reaches them (orchestrator/errors.py: a StepRefused naming the service's problem type)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from orchestrator.clients import BillingClient, EnrollmentClient, create_http_client
from orchestrator.config import OrchestratorSettings
from sagas import ErrorType
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import free_port, serve_in_thread


@dataclass(frozen=True)
class Services:
    enrollment_url: str
    billing_url: str


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """Both services on one database, as under `make up` with a DATABASE_URL."""
    enrollment = EnrollmentSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN)
    billing = BillingSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN)
    with (
        serve_in_thread(create_enrollment(enrollment)) as enrollment_url,
        serve_in_thread(create_billing(billing)) as billing_url,
    ):
        yield Services(enrollment_url, billing_url)


@pytest.fixture
def settings() -> OrchestratorSettings:
    return OrchestratorSettings(service_tokens=TEST_SERVICE_TOKEN)


@pytest.fixture
async def enrollment(
    services: Services, settings: OrchestratorSettings
) -> AsyncIterator[EnrollmentClient]:
    async with create_http_client(services.enrollment_url, settings) as http:
        yield EnrollmentClient(http)


@pytest.fixture
async def billing(
    services: Services, settings: OrchestratorSettings
) -> AsyncIterator[BillingClient]:
    async with create_http_client(services.billing_url, settings) as http:
        yield BillingClient(http)


def new_key(step: str) -> str:
    return f"client-test:{uuid.uuid4()}:{step}"


async def confirmed_in(client: EnrollmentClient, student_id: str, course_id: str) -> str:
    reserved = await client.reserve_seat(student_id, course_id, new_key("reserve_seat"))
    await client.confirm(reserved["enrollment_id"])
    enrollment_id: str = reserved["enrollment_id"]
    return enrollment_id


async def charged(client: BillingClient, enrollment_id: str, amount_cents: int) -> dict[str, Any]:
    return await client.charge(
        student_id="student-1",
        enrollment_id=enrollment_id,
        amount_cents=amount_cents,
        currency="USD",
        payment_token="tok_visa",
        idempotency_key=new_key("charge_tuition"),
    )


def refusal(raised: pytest.ExceptionInfo[ApplicationError]) -> tuple[str | None, str]:
    """(the error type, the service's problem type) of a refusal."""
    return raised.value.type, raised.value.details[0]["problem_type"]


async def test_the_confirmed_enrollment_of_a_student_in_a_course_is_found_or_none(
    enrollment: EnrollmentClient,
) -> None:
    enrollment_id = await confirmed_in(enrollment, "student-1", "CS101")
    await enrollment.reserve_seat("student-1", "MATH201", new_key("reserve_seat"))  # PENDING

    found = await enrollment.confirmed_enrollment("student-1", "CS101")
    pending_only = await enrollment.confirmed_enrollment("student-1", "MATH201")
    someone_else = await enrollment.confirmed_enrollment("student-2", "CS101")

    assert found is not None and found["enrollment_id"] == enrollment_id
    assert (pending_only, someone_else) == (None, None)


async def test_withdrawing_answers_the_withdrawn_enrollment_and_can_be_repeated(
    enrollment: EnrollmentClient,
) -> None:
    enrollment_id = await confirmed_in(enrollment, "student-1", "CS101")

    first = await enrollment.withdraw(enrollment_id)
    again = await enrollment.withdraw(enrollment_id)

    assert first["status"] == "WITHDRAWN"
    assert again == first
    assert await enrollment.confirmed_enrollment("student-1", "CS101") is None


async def test_withdrawing_a_pending_enrollment_is_a_step_refusal(
    enrollment: EnrollmentClient,
) -> None:
    reserved = await enrollment.reserve_seat("student-1", "CS101", new_key("reserve_seat"))

    with pytest.raises(ApplicationError) as raised:
        await enrollment.withdraw(reserved["enrollment_id"])

    assert refusal(raised) == (ErrorType.STEP_REFUSED, "/problems/enrollment-not-withdrawable")
    assert raised.value.non_retryable


async def test_a_partial_refund_is_made_listed_with_its_charge_and_reversed_by_key(
    billing: BillingClient,
) -> None:
    charge = await charged(billing, "enrollment-1", 1_000)
    key = new_key("settle_difference")

    refund = await billing.refund_part(charge["charge_id"], 250, key)
    replayed = await billing.refund_part(charge["charge_id"], 250, key)
    [refunded] = await billing.charges_of_enrollment("enrollment-1")
    await billing.reverse_refund_by_idempotency_key(key)
    await billing.reverse_refund_by_idempotency_key(key)
    [reversed_charge] = await billing.charges_of_enrollment("enrollment-1")

    assert (refund["amount_cents"], refund["status"], refund["idempotency_key"]) == (
        250,
        "REFUNDED",
        key,
    )
    assert replayed == refund
    assert (refunded["charge_id"], refunded["refunded_cents"]) == (charge["charge_id"], 250)
    assert reversed_charge["refunded_cents"] == 0
    assert [row["status"] for row in reversed_charge["refunds"]] == ["REVERSED"]
    assert await billing.charges_of_enrollment("enrollment-none") == []


async def test_reversing_a_refund_never_made_revokes_its_key_and_the_late_refund_is_refused(
    billing: BillingClient,
) -> None:
    charge = await charged(billing, "enrollment-1", 1_000)
    key = new_key("settle_difference")

    await billing.reverse_refund_by_idempotency_key(key)
    with pytest.raises(ApplicationError) as raised:
        await billing.refund_part(charge["charge_id"], 250, key)

    assert refusal(raised) == (ErrorType.STEP_REFUSED, "/problems/refund-revoked")


async def test_a_refund_beyond_the_charge_is_a_step_refusal(billing: BillingClient) -> None:
    charge = await charged(billing, "enrollment-1", 1_000)

    with pytest.raises(ApplicationError) as raised:
        await billing.refund_part(charge["charge_id"], 1_001, new_key("settle_difference"))

    assert refusal(raised) == (ErrorType.STEP_REFUSED, "/problems/refund-exceeds-charge")
    assert raised.value.non_retryable


async def test_reversing_a_refund_of_a_charge_refunded_in_full_since_is_a_refusal(
    billing: BillingClient, services: Services
) -> None:
    charge = await charged(billing, "enrollment-1", 1_000)
    key = new_key("settle_difference")
    await billing.refund_part(charge["charge_id"], 250, key)
    httpx.post(
        f"{services.billing_url}/charges/{charge['charge_id']}/refund",
        headers=SERVICE_HEADERS,
        timeout=30,
    ).raise_for_status()

    with pytest.raises(ApplicationError) as raised:
        await billing.reverse_refund_by_idempotency_key(key)

    assert refusal(raised) == (ErrorType.STEP_REFUSED, "/problems/refund-not-reversible")


async def test_a_read_of_a_service_that_does_not_answer_is_a_transient_fault(
    settings: OrchestratorSettings,
) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    async with create_http_client(nobody_listens, settings) as http:
        with pytest.raises(ApplicationError) as raised:
            await BillingClient(http).charges_of_enrollment("enrollment-1")

    assert raised.value.type == ErrorType.TRANSIENT_FAULT
    assert "GET /charges failed" in raised.value.message
