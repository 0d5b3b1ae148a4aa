"""Seat accounting under concurrency, over real HTTP, on SQLite and PostgreSQL: a course never
hands out more seats than it has, and a seat is given back exactly once however often the
cancellation (or the compensation by idempotency key), or the withdrawal, is retried at the
same moment."""

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from common.database import create_database_engine, create_tables
from common.idempotency import find_by_idempotency_key
from services.enrollment import service
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app
from services.enrollment.models import TABLES, CourseBase, Enrollment, EnrollmentCreate
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

LAST_SEATS_COURSE = "LAST5"
LAST_SEATS = 5
CONCURRENT_RESERVATIONS = 200
CONCURRENT_CANCELS = 50
CLIENT_THREADS = 50

Request = Callable[[], httpx.Response]
Outcome = tuple[int, str]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The service's database, with a course of only five seats."""
    engine = create_database_engine(database_url)
    create_tables(engine, TABLES)
    with Session(engine) as session:
        course = CourseBase(
            course_id=LAST_SEATS_COURSE,
            title="Popular elective (five seats)",
            capacity=LAST_SEATS,
            tuition_cents=50_000,
            currency="USD",
        )
        service.seed_catalogue(session, [course])
    yield engine
    engine.dispose()


@pytest.fixture
def enrollment_url(database_url: str, engine: Engine) -> Iterator[str]:
    """The enrollment service, started on the database seeded above."""
    with serve_in_thread(
        create_app(EnrollmentSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN))
    ) as url:
        yield url


@pytest.fixture
def client(enrollment_url: str) -> Iterator[httpx.Client]:
    """One client shared by all request threads, with a connection per thread."""
    limits = httpx.Limits(max_connections=CLIENT_THREADS, max_keepalive_connections=CLIENT_THREADS)
    with httpx.Client(
        base_url=enrollment_url, headers=SERVICE_HEADERS, timeout=120, limits=limits
    ) as client:
        yield client


def reservation(client: httpx.Client, student_id: str, key: str | None = None) -> Request:
    body = {"student_id": student_id, "course_id": LAST_SEATS_COURSE}
    headers = {"Idempotency-Key": key or f"reserve-{uuid.uuid4()}"}
    return partial(client.post, "/enrollments", json=body, headers=headers)


def cancellation(client: httpx.Client, enrollment_id: str) -> Request:
    return partial(client.post, f"/enrollments/{enrollment_id}/cancel")


def compensation(client: httpx.Client, key: str) -> Request:
    """The saga's cancel by idempotency key, for a reservation whose answer may have been lost."""
    return partial(client.post, f"/enrollments/by-key/{key}/cancel")


def all_at_once(requests: list[Request]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        return list(pool.map(lambda send: send(), requests))


def outcome(response: httpx.Response) -> Outcome:
    """The status and, for a problem, its type: what the tests count."""
    if response.headers.get("content-type") == "application/problem+json":
        return response.status_code, response.json()["type"]
    return response.status_code, ""


def course(client: httpx.Client) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/courses/{LAST_SEATS_COURSE}").json()
    return found


def enrollments_in_course(client: httpx.Client) -> list[dict[str, Any]]:
    everyone = client.get("/enrollments").json()
    return [enrollment for enrollment in everyone if enrollment["course_id"] == LAST_SEATS_COURSE]


def test_200_concurrent_reservations_for_the_last_5_seats_yield_exactly_5_pending_enrollments(
    client: httpx.Client,
) -> None:
    requests = [reservation(client, f"student-{n}") for n in range(CONCURRENT_RESERVATIONS)]

    responses = all_at_once(requests)

    assert Counter(outcome(response) for response in responses) == {
        (201, ""): LAST_SEATS,
        (409, "/problems/course-full"): CONCURRENT_RESERVATIONS - LAST_SEATS,
    }
    winners = {response.json()["enrollment_id"] for response in responses if response.is_success}
    enrolled = enrollments_in_course(client)
    assert {enrollment["enrollment_id"] for enrollment in enrolled} == winners
    assert [enrollment["status"] for enrollment in enrolled] == ["PENDING"] * LAST_SEATS
    assert (course(client)["seats_taken"], course(client)["seats_available"]) == (LAST_SEATS, 0)


def test_concurrent_retries_of_one_reservation_take_one_seat(client: httpx.Client) -> None:
    retry = reservation(client, "student-retrying")

    responses = all_at_once([retry] * CONCURRENT_CANCELS)

    assert Counter(outcome(response) for response in responses) == {(201, ""): CONCURRENT_CANCELS}
    assert len({response.json()["enrollment_id"] for response in responses}) == 1
    replayed = [response for response in responses if "Idempotent-Replayed" in response.headers]
    assert len(replayed) == CONCURRENT_CANCELS - 1
    assert course(client)["seats_taken"] == 1


def test_50_concurrent_cancels_of_one_enrollment_release_exactly_one_seat(
    client: httpx.Client,
) -> None:
    kept = reservation(client, "student-kept")().json()
    leaving = reservation(client, "student-leaving")().json()

    responses = all_at_once([cancellation(client, leaving["enrollment_id"])] * CONCURRENT_CANCELS)

    assert Counter(outcome(response) for response in responses) == {(200, ""): CONCURRENT_CANCELS}
    assert {response.json()["status"] for response in responses} == {"CANCELLED"}
    assert course(client)["seats_taken"] == 1
    assert client.get(f"/enrollments/{kept['enrollment_id']}").json()["status"] == "PENDING"


def test_concurrent_cancels_by_id_and_by_key_release_each_seat_exactly_once(
    client: httpx.Client,
) -> None:
    keys = [f"reserve-{uuid.uuid4()}" for _ in range(LAST_SEATS)]
    enrollment_ids = [
        reservation(client, f"student-{n}", key)().json()["enrollment_id"]
        for n, key in enumerate(keys)
    ]
    cancels = [compensation(client, key) for key in keys]
    cancels += [cancellation(client, enrollment_id) for enrollment_id in enrollment_ids]

    responses = all_at_once(cancels * (CONCURRENT_CANCELS // 2))

    assert Counter(outcome(response) for response in responses) == {(200, ""): len(responses)}
    assert {enrollment["status"] for enrollment in enrollments_in_course(client)} == {"CANCELLED"}
    assert course(client)["seats_taken"] == 0


def withdrawal(client: httpx.Client, enrollment_id: str) -> Request:
    return partial(client.post, f"/enrollments/{enrollment_id}/withdraw")


def confirmed(client: httpx.Client, student_id: str) -> dict[str, Any]:
    enrollment_id = reservation(client, student_id)().json()["enrollment_id"]
    found: dict[str, Any] = client.post(f"/enrollments/{enrollment_id}/confirm").json()
    return found


def test_50_concurrent_withdrawals_of_one_enrollment_release_exactly_one_seat(
    client: httpx.Client,
) -> None:
    kept = confirmed(client, "student-kept")
    leaving = confirmed(client, "student-leaving")

    responses = all_at_once([withdrawal(client, leaving["enrollment_id"])] * CONCURRENT_CANCELS)

    assert Counter(outcome(response) for response in responses) == {(200, ""): CONCURRENT_CANCELS}
    assert {response.json()["status"] for response in responses} == {"WITHDRAWN"}
    assert course(client)["seats_taken"] == 1
    assert client.get(f"/enrollments/{kept['enrollment_id']}").json()["status"] == "CONFIRMED"


def test_withdrawals_racing_cancels_of_the_same_enrollments_release_each_seat_once(
    client: httpx.Client,
) -> None:
    """Whichever lands first ends the enrollment (WITHDRAWN or CANCELLED); the other changes
    nothing (a cancel of a withdrawn one) or is refused (a withdrawal of a cancelled one)."""
    enrollment_ids = [confirmed(client, f"student-{n}")["enrollment_id"] for n in range(LAST_SEATS)]
    requests = [withdrawal(client, enrollment_id) for enrollment_id in enrollment_ids]
    requests += [cancellation(client, enrollment_id) for enrollment_id in enrollment_ids]

    responses = all_at_once(requests * (CONCURRENT_CANCELS // 5))

    assert set(Counter(outcome(response) for response in responses)) <= {
        (200, ""),
        (409, "/problems/enrollment-not-withdrawable"),
    }
    statuses = {enrollment["status"] for enrollment in enrollments_in_course(client)}
    assert statuses <= {"WITHDRAWN", "CANCELLED"}
    assert course(client)["seats_taken"] == 0


def test_a_cancel_that_read_the_enrollment_before_another_cancel_committed_releases_nothing(
    engine: Engine,
) -> None:
    """The interleaving behind the test above, step by step (PostgreSQL: SQLite runs the two
    transactions one after the other, so the second could not start before the first ends)."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises transactions; there is no interleaving to arrange")
    request = EnrollmentCreate(student_id="student-1", course_id=LAST_SEATS_COURSE)
    with Session(engine, expire_on_commit=False) as first, Session(engine) as second:
        enrollment, _ = service.reserve_seat(first, request, "key-1", "fingerprint-1")
        read_by_second = find_by_idempotency_key(second, Enrollment, "key-1")
        assert read_by_second is not None and read_by_second.status == "PENDING"

        service.cancel_enrollment(first, enrollment.enrollment_id)
        service.cancel_by_idempotency_key(second, "key-1")

    with Session(engine) as session:
        assert service.get_course(session, LAST_SEATS_COURSE).seats_taken == 0


def test_a_reservation_racing_its_compensation_never_keeps_a_seat(client: httpx.Client) -> None:
    """Each key is reserved and compensated at the same moment. Whichever lands first, the key
    ends without a seat: cancelled after the reservation, or revoked before it."""
    keys = [f"race-{uuid.uuid4()}" for _ in range(LAST_SEATS * 20)]
    requests: list[Request] = []
    for key in keys:
        requests += [reservation(client, "student-racing", key), compensation(client, key)]

    responses = all_at_once(requests)

    assert set(Counter(outcome(response) for response in responses)) <= {
        (200, ""),
        (201, ""),
        (204, ""),
        (409, "/problems/course-full"),
        (409, "/problems/reservation-revoked"),
    }
    assert {enrollment["status"] for enrollment in enrollments_in_course(client)} <= {"CANCELLED"}
    assert course(client)["seats_taken"] == 0


def test_the_course_stays_readable_while_its_last_seats_are_taken(client: httpx.Client) -> None:
    reads: list[Request] = [
        partial(client.get, f"/courses/{LAST_SEATS_COURSE}"),
        partial(client.get, "/enrollments"),
    ] * (CONCURRENT_RESERVATIONS // 2)
    reservations = [reservation(client, f"student-{n}") for n in range(LAST_SEATS * 4)]

    responses = all_at_once(reservations + reads)

    assert Counter(response.status_code for response in responses) == {
        200: len(reads),
        201: LAST_SEATS,
        409: len(reservations) - LAST_SEATS,
    }
    assert course(client)["seats_taken"] == LAST_SEATS
