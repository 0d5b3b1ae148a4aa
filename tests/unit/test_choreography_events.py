"""The choreography's events on the wire: versioned JSON, derived ids, unknown types refused."""

import pytest
from pydantic import ValidationError

from choreography.events import (
    SeatReserved,
    StudentCreated,
    event_id_for,
    from_json,
    to_json,
)


def a_student_created(student_id: str = "stu-1") -> StudentCreated:
    return StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id="CS101",
        payment_token="tok_visa",
    )


def test_an_event_survives_the_round_trip_through_json() -> None:
    event = a_student_created()

    assert from_json(to_json(event)) == event


def test_the_wire_format_names_type_version_id_and_correlation() -> None:
    wire = to_json(a_student_created()).decode()

    for field in ('"type":"StudentCreated"', '"version":1', '"event_id":', '"student_id":"stu-1"'):
        assert field in wire


def test_an_event_id_is_the_same_for_the_same_saga_and_type_only() -> None:
    first, again = a_student_created("stu-1"), a_student_created("stu-1")
    other = a_student_created("stu-2")

    assert first.event_id == again.event_id == event_id_for("stu-1", "StudentCreated")
    assert other.event_id != first.event_id


def test_a_follow_up_event_is_correlated_with_its_cause() -> None:
    cause = a_student_created("stu-9")
    follow_up = SeatReserved.following(
        cause,
        enrollment_id="e-1",
        course_id="CS101",
        tuition_cents=100,
        currency="USD",
        payment_token="tok_visa",
    )

    assert follow_up.student_id == "stu-9"
    assert follow_up.event_id == event_id_for("stu-9", "SeatReserved")


@pytest.mark.parametrize(
    "wire",
    [
        b'{"type":"StudentDeleted","version":1,"student_id":"s"}',
        to_json(a_student_created()).replace(b'"version":1', b'"version":2'),
        b"not json",
    ],
    ids=["unknown type", "unknown version", "not json"],
)
def test_an_event_the_consumer_cannot_understand_is_refused(wire: bytes) -> None:
    with pytest.raises(ValidationError):
        from_json(wire)


def test_a_retried_run_has_new_event_ids_and_keys_and_passes_its_run_on() -> None:
    first = a_student_created("stu-5")
    retried = StudentCreated(**first.model_dump(exclude={"event_id", "run"}), run=2)
    follow_up = SeatReserved.following(
        retried,
        enrollment_id="e-2",
        course_id="CS101",
        tuition_cents=100,
        currency="USD",
        payment_token="tok_visa",
    )

    assert retried.event_id != first.event_id
    assert follow_up.run == 2
    assert follow_up.event_id == event_id_for("stu-5", "SeatReserved", run=2)
    assert first.key("reserve_seat") == "choreography:stu-5:reserve_seat"
    assert follow_up.key("reserve_seat") == "choreography:r2/stu-5:reserve_seat"


def test_an_event_from_before_runs_existed_reads_as_the_first_run() -> None:
    wire = to_json(a_student_created("stu-6")).decode().replace('"run":1,', "")

    event = from_json(wire)

    assert '"run"' not in wire
    assert (event.run, event.event_id) == (1, event_id_for("stu-6", "StudentCreated"))
