"""The enrollment service over real HTTP, on SQLite and PostgreSQL: catalogue, reservations,
idempotency, confirm/cancel, compensation by idempotency key, and its HTTP conventions."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

AMPLE_COURSE = "CS101"
TWO_SEAT_COURSE = "SEM1"


@pytest.fixture
def enrollment_url(database_url: str) -> Iterator[str]:
    with serve_in_thread(
        create_app(EnrollmentSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN))
    ) as url:
        yield url


@pytest.fixture
def client(enrollment_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=enrollment_url, headers=SERVICE_HEADERS, timeout=30) as client:
        yield client


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def reserve(
    client: httpx.Client,
    student_id: str = "student-1",
    course_id: str = AMPLE_COURSE,
    key: str | None = None,
) -> httpx.Response:
    body = {"student_id": student_id, "course_id": course_id}
    return client.post("/enrollments", json=body, headers={"Idempotency-Key": key or new_key()})


def reserved(client: httpx.Client, student_id: str = "student-1", **kwargs: Any) -> dict[str, Any]:
    response = reserve(client, student_id, **kwargs)
    assert response.status_code == 201, response.text
    enrollment: dict[str, Any] = response.json()
    return enrollment


def seats_taken(client: httpx.Client, course_id: str = AMPLE_COURSE) -> int:
    taken: int = client.get(f"/courses/{course_id}").json()["seats_taken"]
    return taken


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"].endswith(f"/{slug}")
    assert problem["status"] == status
    return problem


# Catalogue


def test_the_catalogue_is_seeded_with_an_ample_course_and_a_two_seat_seminar(
    client: httpx.Client,
) -> None:
    response = client.get("/courses")

    assert response.status_code == 200
    courses = {course["course_id"]: course for course in response.json()}
    assert courses[AMPLE_COURSE]["capacity"] >= 1000
    assert courses[TWO_SEAT_COURSE]["capacity"] == 2
    assert all(course["seats_taken"] == 0 for course in courses.values())


def test_a_course_can_be_read_by_id(client: httpx.Client) -> None:
    response = client.get(f"/courses/{TWO_SEAT_COURSE}")

    assert response.status_code == 200
    assert response.json() == {
        "course_id": TWO_SEAT_COURSE,
        "title": response.json()["title"],
        "capacity": 2,
        "tuition_cents": 30_000,
        "currency": "USD",
        "seats_taken": 0,
        "seats_available": 2,
    }


def test_an_unknown_course_is_a_404_problem(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/courses/NOPE999"), 404, "course-not-found")

    assert "NOPE999" in problem["detail"]


# Reserving a seat


def test_reserving_creates_a_pending_enrollment_priced_from_the_course_and_takes_a_seat(
    client: httpx.Client,
) -> None:
    response = reserve(client, "student-1", AMPLE_COURSE)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    enrollment = response.json()
    assert enrollment["status"] == "PENDING"
    assert enrollment["student_id"] == "student-1"
    assert enrollment["course_id"] == AMPLE_COURSE
    assert (enrollment["tuition_cents"], enrollment["currency"]) == (120_000, "USD")
    assert client.get(f"/enrollments/{enrollment['enrollment_id']}").json() == enrollment
    assert seats_taken(client) == 1


def test_retrying_with_the_same_key_and_body_replays_the_first_enrollment_and_takes_one_seat(
    client: httpx.Client,
) -> None:
    key = new_key()
    first = reserve(client, key=key)

    retry = reserve(client, key=key)

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert seats_taken(client) == 1
    assert len(client.get("/enrollments").json()) == 1


def test_reusing_a_key_with_a_different_body_is_refused_and_takes_no_seat(
    client: httpx.Client,
) -> None:
    key = new_key()
    reserved(client, "student-1", key=key)

    response = reserve(client, "student-2", key=key)

    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert key in problem["detail"]
    assert seats_taken(client) == 1


@pytest.mark.parametrize(
    ("headers", "slug"),
    [
        ({}, "idempotency-key-missing"),
        ({"Idempotency-Key": ""}, "idempotency-key-missing"),
        ({"Idempotency-Key": "k" * 256}, "idempotency-key-invalid"),
    ],
    ids=["missing", "blank", "too-long"],
)
def test_a_reservation_needs_a_usable_idempotency_key(
    client: httpx.Client, headers: dict[str, str], slug: str
) -> None:
    body = {"student_id": "student-1", "course_id": AMPLE_COURSE}

    response = client.post("/enrollments", json=body, headers=headers)

    problem = assert_problem(response, 400, slug)
    assert "Idempotency-Key" in problem["detail"]
    assert seats_taken(client) == 0


def test_a_full_course_refuses_the_next_reservation(client: httpx.Client) -> None:
    reserved(client, "student-1", course_id=TWO_SEAT_COURSE)
    reserved(client, "student-2", course_id=TWO_SEAT_COURSE)

    response = reserve(client, "student-3", TWO_SEAT_COURSE)

    assert_problem(response, 409, "course-full")
    course = client.get(f"/courses/{TWO_SEAT_COURSE}").json()
    assert (course["seats_taken"], course["seats_available"]) == (2, 0)


def test_reserving_in_an_unknown_course_is_a_404_problem(client: httpx.Client) -> None:
    assert_problem(reserve(client, course_id="NOPE999"), 404, "course-not-found")
    assert client.get("/enrollments").json() == []


# HTTP conventions of a JSON body

VALID_BODY = b'{"student_id": "student-1", "course_id": "CS101"}'


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
)
def test_a_body_not_declared_as_json_is_refused_with_415(
    client: httpx.Client, content_type: str | None
) -> None:
    headers = {"Idempotency-Key": new_key()}
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post("/enrollments", content=VALID_BODY, headers=headers)

    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]
    assert seats_taken(client) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.enrollment+json"]
)
def test_json_media_types_with_parameters_or_suffixes_are_accepted(
    client: httpx.Client, content_type: str
) -> None:
    headers = {"Idempotency-Key": new_key(), "Content-Type": content_type}

    response = client.post("/enrollments", content=VALID_BODY, headers=headers)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body", [b'{"student_id": "student-1",', b"not json", b"{'a': 1}"])
def test_malformed_json_is_a_400_problem(client: httpx.Client, body: bytes) -> None:
    headers = {"Idempotency-Key": new_key(), "Content-Type": "application/json"}

    response = client.post("/enrollments", content=body, headers=headers)

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"course_id": AMPLE_COURSE}, "student_id"),
        ({"student_id": "student-1"}, "course_id"),
        ({"student_id": "", "course_id": AMPLE_COURSE}, "student_id"),
        ({"student_id": "s" * 101, "course_id": AMPLE_COURSE}, "student_id"),
        ({"student_id": 42, "course_id": AMPLE_COURSE}, "student_id"),
        ({"student_id": "student-1", "course_id": "C" * 33}, "course_id"),
        ({"student_id": "student-1", "course_id": AMPLE_COURSE, "discount": 100}, "discount"),
        ([], "body"),
    ],
    ids=["no-student", "no-course", "empty", "too-long", "number", "long-course", "extra", "list"],
)
def test_invalid_fields_are_a_422_problem_naming_the_field(
    client: httpx.Client, body: Any, field: str
) -> None:
    response = client.post("/enrollments", json=body, headers={"Idempotency-Key": new_key()})

    problem = assert_problem(response, 422, "validation-error")
    assert field in problem["detail"]
    assert any(field in error["field"] for error in problem["errors"])
    assert seats_taken(client) == 0


# Confirming and cancelling


def test_confirming_makes_a_pending_enrollment_confirmed_and_can_be_repeated(
    client: httpx.Client,
) -> None:
    enrollment_id = reserved(client)["enrollment_id"]

    first = client.post(f"/enrollments/{enrollment_id}/confirm")
    second = client.post(f"/enrollments/{enrollment_id}/confirm")

    assert (first.status_code, first.json()["status"]) == (200, "CONFIRMED")
    assert second.json() == first.json()
    assert seats_taken(client) == 1


def test_a_cancelled_enrollment_cannot_be_confirmed(client: httpx.Client) -> None:
    enrollment_id = reserved(client)["enrollment_id"]
    client.post(f"/enrollments/{enrollment_id}/cancel")

    response = client.post(f"/enrollments/{enrollment_id}/confirm")

    assert_problem(response, 409, "enrollment-not-confirmable")
    assert client.get(f"/enrollments/{enrollment_id}").json()["status"] == "CANCELLED"


def test_a_course_closed_to_confirmations_holds_seats_but_refuses_to_confirm_them(
    database_url: str,
) -> None:
    settings = EnrollmentSettings(
        database_url=database_url, unconfirmable_courses=frozenset({TWO_SEAT_COURSE})
    )
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        closed_id = reserved(client, course_id=TWO_SEAT_COURSE)["enrollment_id"]
        open_id = reserved(client, "student-2")["enrollment_id"]

        refused = client.post(f"/enrollments/{closed_id}/confirm")
        accepted = client.post(f"/enrollments/{open_id}/confirm")

        assert_problem(refused, 409, "enrollment-not-confirmable")
        assert client.get(f"/enrollments/{closed_id}").json()["status"] == "PENDING"
        assert accepted.json()["status"] == "CONFIRMED"


@pytest.mark.parametrize("confirm_first", [False, True], ids=["pending", "confirmed"])
def test_cancelling_releases_the_seat_exactly_once(
    client: httpx.Client, confirm_first: bool
) -> None:
    kept = reserved(client, "student-1")
    cancelled_id = reserved(client, "student-2")["enrollment_id"]
    if confirm_first:
        client.post(f"/enrollments/{cancelled_id}/confirm")

    first = client.post(f"/enrollments/{cancelled_id}/cancel")
    second = client.post(f"/enrollments/{cancelled_id}/cancel")

    assert (first.status_code, first.json()["status"]) == (200, "CANCELLED")
    assert (second.status_code, second.json()) == (200, first.json())
    assert seats_taken(client) == 1
    assert client.get(f"/enrollments/{kept['enrollment_id']}").json()["status"] == "PENDING"


def test_a_freed_seat_in_a_full_course_can_be_reserved_again(client: httpx.Client) -> None:
    first = reserved(client, "student-1", course_id=TWO_SEAT_COURSE)
    reserved(client, "student-2", course_id=TWO_SEAT_COURSE)
    client.post(f"/enrollments/{first['enrollment_id']}/cancel")

    response = reserve(client, "student-3", TWO_SEAT_COURSE)

    assert response.status_code == 201
    assert seats_taken(client, TWO_SEAT_COURSE) == 2


@pytest.mark.parametrize("action", ["confirm", "cancel", "withdraw"])
def test_an_unknown_enrollment_is_a_404_problem(client: httpx.Client, action: str) -> None:
    missing = str(uuid.uuid4())

    assert_problem(client.get(f"/enrollments/{missing}"), 404, "enrollment-not-found")
    assert_problem(client.post(f"/enrollments/{missing}/{action}"), 404, "enrollment-not-found")


# Compensation by idempotency key


def test_cancel_by_key_cancels_the_reservation_made_with_that_key_once(
    client: httpx.Client,
) -> None:
    key = new_key()
    enrollment = reserved(client, key=key)

    first = client.post(f"/enrollments/by-key/{key}/cancel")
    second = client.post(f"/enrollments/by-key/{key}/cancel")

    assert first.status_code == 200
    assert first.json() == {**enrollment, "status": "CANCELLED"}
    assert (second.status_code, second.json()) == (200, first.json())
    assert seats_taken(client) == 0


def test_cancel_by_key_before_the_reservation_revokes_the_key(client: httpx.Client) -> None:
    key = new_key()

    first = client.post(f"/enrollments/by-key/{key}/cancel")
    second = client.post(f"/enrollments/by-key/{key}/cancel")
    late_reservation = reserve(client, key=key)

    assert (first.status_code, first.content) == (204, b"")
    assert (second.status_code, second.content) == (204, b"")
    problem = assert_problem(late_reservation, 409, "reservation-revoked")
    assert key in problem["detail"]
    assert seats_taken(client) == 0
    assert client.get("/enrollments").json() == []


def test_revoking_one_key_leaves_other_reservations_alone(client: httpx.Client) -> None:
    client.post(f"/enrollments/by-key/{new_key()}/cancel")

    assert reserve(client).status_code == 201


# Listing, health and odd input


def test_enrollments_can_be_listed_for_one_student(client: httpx.Client) -> None:
    alice_cs = reserved(client, "alice", course_id=AMPLE_COURSE)
    alice_seminar = reserved(client, "alice", course_id=TWO_SEAT_COURSE)
    bob_cs = reserved(client, "bob", course_id=AMPLE_COURSE)

    alice = client.get("/enrollments", params={"student_id": "alice"}).json()
    everyone = client.get("/enrollments").json()
    nobody = client.get("/enrollments", params={"student_id": "carol"}).json()

    assert alice == [alice_cs, alice_seminar]
    assert {enrollment["enrollment_id"] for enrollment in everyone} == {
        alice_cs["enrollment_id"],
        alice_seminar["enrollment_id"],
        bob_cs["enrollment_id"],
    }
    assert nobody == []


def test_the_service_reports_itself_live_and_ready(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_unicode_ids_are_stored_and_returned_unchanged(client: httpx.Client) -> None:
    student_id = "Zoë 学生 🎓 \u200d"
    body = {"student_id": student_id, "course_id": AMPLE_COURSE}
    utf8_key = "clé-ünïcode-🔑".encode()  # headers carry bytes; httpx only sends str as ASCII

    first = client.post("/enrollments", json=body, headers={b"Idempotency-Key": utf8_key})
    retry = client.post("/enrollments", json=body, headers={b"Idempotency-Key": utf8_key})
    listed = client.get("/enrollments", params={"student_id": student_id}).json()

    assert first.status_code == 201, first.text
    assert first.json()["student_id"] == student_id
    assert (retry.json(), retry.headers["Idempotent-Replayed"]) == (first.json(), "true")
    assert listed == [first.json()]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/courses/" + "C" * 5_000),
        ("GET", "/enrollments/" + "e" * 5_000),
        ("POST", "/enrollments/" + "e" * 5_000 + "/confirm"),
        ("POST", "/enrollments/" + "e" * 5_000 + "/cancel"),
        ("POST", "/enrollments/by-key/" + "k" * 5_000 + "/cancel"),
        ("GET", "/enrollments?student_id=" + "s" * 5_000),
        ("POST", "/enrollments/" + "e" * 5_000 + "/withdraw"),
        ("GET", "/enrollments?course_id=" + "C" * 5_000),
    ],
    ids=[
        "course",
        "enrollment",
        "confirm",
        "cancel",
        "cancel-by-key",
        "student-filter",
        "withdraw",
        "course-filter",
    ],
)
def test_very_long_ids_are_refused_as_invalid(client: httpx.Client, method: str, path: str) -> None:
    assert_problem(client.request(method, path), 422, "validation-error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/courses/CS%00101"),
        ("GET", "/enrollments/a%00b"),
        ("POST", "/enrollments/a%00b/confirm"),
        ("POST", "/enrollments/a%00b/cancel"),
        ("POST", "/enrollments/by-key/a%00b/cancel"),
        ("GET", "/enrollments?student_id=a%00b"),
        ("POST", "/enrollments/a%00b/withdraw"),
        ("GET", "/enrollments?course_id=a%00b"),
    ],
    ids=[
        "course",
        "enrollment",
        "confirm",
        "cancel",
        "cancel-by-key",
        "student-filter",
        "withdraw",
        "course-filter",
    ],
)
def test_ids_with_nul_characters_are_refused_as_invalid(
    client: httpx.Client, method: str, path: str
) -> None:
    assert_problem(client.request(method, path), 422, "validation-error")


@pytest.mark.parametrize(
    "body",
    [
        {"student_id": "student\u0000-1", "course_id": AMPLE_COURSE},
        {"student_id": "student-1", "course_id": "CS\u0000101"},
    ],
    ids=["student", "course"],
)
def test_a_body_with_nul_characters_is_refused_as_invalid(
    client: httpx.Client, body: dict[str, str]
) -> None:
    response = client.post("/enrollments", json=body, headers={"Idempotency-Key": new_key()})

    assert_problem(response, 422, "validation-error")
    assert seats_taken(client) == 0


@pytest.mark.parametrize(
    "body",
    [b"[]", b"null", b"42", b'"text"', b"", b'{"student_id": "\\ud800", "course_id": "CS101"}'],
    ids=["list", "null", "number", "string", "empty", "lone-surrogate"],
)
def test_odd_json_bodies_are_client_errors(client: httpx.Client, body: bytes) -> None:
    headers = {"Idempotency-Key": new_key(), "Content-Type": "application/json"}

    response = client.post("/enrollments", content=body, headers=headers)

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unknown_route_is_a_404_problem(client: httpx.Client) -> None:
    assert_problem(client.get("/enrolments"), 404, "not-found")
    assert_problem(client.delete("/courses/CS101"), 405, "method-not-allowed")


def test_enrollments_can_be_listed_by_the_prefix_of_their_idempotency_key(
    client: httpx.Client,
) -> None:
    mine = reserved(client, "student-a", key="saga-a:run-1:reserve_seat")
    reserved(client, "student-b", key="saga-b:run-1:reserve_seat")
    reserved(client, "student-c", key="saga_a:run-1:reserve_seat")  # `_` is no wildcard

    listed = client.get("/enrollments", params={"idempotency_key_prefix": "saga-a:"}).json()
    wildcard = client.get("/enrollments", params={"idempotency_key_prefix": "saga%"}).json()

    assert listed == [mine]
    assert mine["idempotency_key"] == "saga-a:run-1:reserve_seat"
    assert wildcard == []


# Withdrawing (the transfer's pivot)


def confirmed(client: httpx.Client, student_id: str = "student-1", **kwargs: Any) -> dict[str, Any]:
    enrollment_id = reserved(client, student_id, **kwargs)["enrollment_id"]
    response = client.post(f"/enrollments/{enrollment_id}/confirm")
    assert response.status_code == 200, response.text
    enrollment: dict[str, Any] = response.json()
    return enrollment


def withdraw(client: httpx.Client, enrollment_id: str) -> httpx.Response:
    return client.post(f"/enrollments/{enrollment_id}/withdraw")


def test_withdrawing_a_confirmed_enrollment_releases_its_seat_exactly_once(
    client: httpx.Client,
) -> None:
    kept = confirmed(client, "student-1")
    leaving = confirmed(client, "student-2")

    first = withdraw(client, leaving["enrollment_id"])
    second = withdraw(client, leaving["enrollment_id"])

    assert first.status_code == 200, first.text
    assert first.json() == {**leaving, "status": "WITHDRAWN"}
    assert (second.status_code, second.json()) == (200, first.json())
    assert seats_taken(client) == 1
    assert client.get(f"/enrollments/{kept['enrollment_id']}").json()["status"] == "CONFIRMED"


@pytest.mark.parametrize("status", ["PENDING", "CANCELLED"])
def test_an_enrollment_never_confirmed_or_cancelled_cannot_be_withdrawn(
    client: httpx.Client, status: str
) -> None:
    enrollment = reserved(client)
    if status == "CANCELLED":
        client.post(f"/enrollments/{enrollment['enrollment_id']}/cancel")
    seats_before = seats_taken(client)

    response = withdraw(client, enrollment["enrollment_id"])

    problem = assert_problem(response, 409, "enrollment-not-withdrawable")
    assert status in problem["detail"]
    assert client.get(f"/enrollments/{enrollment['enrollment_id']}").json()["status"] == status
    assert seats_taken(client) == seats_before


def test_a_withdrawn_enrollment_cannot_be_confirmed_again(client: httpx.Client) -> None:
    enrollment_id = confirmed(client)["enrollment_id"]
    withdraw(client, enrollment_id)

    response = client.post(f"/enrollments/{enrollment_id}/confirm")

    assert_problem(response, 409, "enrollment-not-confirmable")
    assert client.get(f"/enrollments/{enrollment_id}").json()["status"] == "WITHDRAWN"
    assert seats_taken(client) == 0


def test_cancelling_a_withdrawn_enrollment_changes_nothing(client: httpx.Client) -> None:
    key = new_key()
    enrollment_id = confirmed(client, key=key)["enrollment_id"]
    reserved(client, "student-2")
    withdrawn = withdraw(client, enrollment_id).json()

    by_id = client.post(f"/enrollments/{enrollment_id}/cancel")
    by_key = client.post(f"/enrollments/by-key/{key}/cancel")

    assert (by_id.status_code, by_id.json()) == (200, withdrawn)
    assert (by_key.status_code, by_key.json()) == (200, withdrawn)
    assert seats_taken(client) == 1


def test_a_student_confirmed_in_one_course_can_move_to_another_seat_before_leaving_it(
    client: httpx.Client,
) -> None:
    """The transfer's order: the new seat is reserved (and paid for) while the old enrollment is
    still CONFIRMED; the old seat is released only then."""
    old = confirmed(client, "student-1", course_id=AMPLE_COURSE)
    new = reserved(client, "student-1", course_id=TWO_SEAT_COURSE)
    assert (seats_taken(client, AMPLE_COURSE), seats_taken(client, TWO_SEAT_COURSE)) == (1, 1)

    withdraw(client, old["enrollment_id"])
    client.post(f"/enrollments/{new['enrollment_id']}/confirm")

    mine = client.get("/enrollments", params={"student_id": "student-1"}).json()
    assert [(row["course_id"], row["status"]) for row in mine] == [
        (AMPLE_COURSE, "WITHDRAWN"),
        (TWO_SEAT_COURSE, "CONFIRMED"),
    ]
    assert (seats_taken(client, AMPLE_COURSE), seats_taken(client, TWO_SEAT_COURSE)) == (0, 1)


def test_a_seat_freed_by_a_withdrawal_in_a_full_course_can_be_reserved_again(
    client: httpx.Client,
) -> None:
    leaving = confirmed(client, "student-1", course_id=TWO_SEAT_COURSE)
    reserved(client, "student-2", course_id=TWO_SEAT_COURSE)
    assert_problem(reserve(client, "student-3", TWO_SEAT_COURSE), 409, "course-full")

    withdraw(client, leaving["enrollment_id"])

    assert reserve(client, "student-3", TWO_SEAT_COURSE).status_code == 201
    assert seats_taken(client, TWO_SEAT_COURSE) == 2


def test_enrollments_can_be_listed_by_student_status_and_course_together(
    client: httpx.Client,
) -> None:
    wanted = confirmed(client, "alice", course_id=AMPLE_COURSE)
    reserved(client, "alice", course_id=AMPLE_COURSE)  # PENDING
    confirmed(client, "alice", course_id=TWO_SEAT_COURSE)  # another course
    confirmed(client, "bob", course_id=AMPLE_COURSE)  # another student

    found = client.get(
        "/enrollments",
        params={"student_id": "alice", "status": "CONFIRMED", "course_id": AMPLE_COURSE},
    ).json()
    withdrawn = client.get("/enrollments", params={"status": "WITHDRAWN"}).json()
    in_seminar = client.get("/enrollments", params={"course_id": TWO_SEAT_COURSE}).json()

    assert found == [wanted]
    assert withdrawn == []
    assert [row["student_id"] for row in in_seminar] == ["alice"]


def test_an_unknown_status_filter_is_refused_naming_the_field(client: httpx.Client) -> None:
    problem = assert_problem(
        client.get("/enrollments", params={"status": "ENROLLED"}), 422, "validation-error"
    )

    assert "status" in problem["detail"]
