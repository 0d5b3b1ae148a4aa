"""The inbox and the outbox around the enrollment service's real use cases, on SQLite and
PostgreSQL: effect, inbox record and follow-up event commit together or not at all, and a
redelivered event changes nothing, also when many deliveries of it arrive at once."""

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from choreography.events import Event, SeatRejected, SeatReserved, StudentCreated
from choreography.inbox import ProcessedEvent, handle_once
from choreography.outbox import OutboxMessage, mark_published, unsent
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from common.database import create_database_engine, create_tables
from services.enrollment import service
from services.enrollment.consumers import on_student_created
from services.enrollment.models import TABLES, Course, CourseBase, Enrollment

SMALL = CourseBase(course_id="TWO", title="Two seats", capacity=2, tuition_cents=5, currency="USD")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (*TABLES, *CHOREOGRAPHY_TABLES))
    with Session(engine) as session:
        service.seed_catalogue(session, [SMALL])
    yield engine
    engine.dispose()


def student_created(student_id: str, course_id: str = SMALL.course_id) -> StudentCreated:
    return StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id=course_id,
        payment_token="tok_visa",
    )


def rows(engine: Engine, table: type) -> Sequence[object]:
    with Session(engine) as session:
        return session.exec(select(table)).all()


def seats_taken(engine: Engine) -> int:
    with Session(engine) as session:
        course = session.get(Course, SMALL.course_id)
        assert course is not None
        return course.seats_taken


def test_the_effect_the_inbox_record_and_the_follow_up_event_commit_together(
    engine: Engine,
) -> None:
    event = student_created("stu-1")

    applied = handle_once(engine, event, on_student_created)

    assert applied
    [enrollment] = rows(engine, Enrollment)
    [processed] = rows(engine, ProcessedEvent)
    [message] = unsent(engine)
    assert isinstance(enrollment, Enrollment) and isinstance(processed, ProcessedEvent)
    assert processed.event_id == event.event_id
    assert message.event_type == "SeatReserved"
    follow_up = SeatReserved.model_validate_json(message.payload)
    assert follow_up.enrollment_id == enrollment.enrollment_id


def test_a_redelivered_event_changes_nothing_and_emits_nothing(engine: Engine) -> None:
    event = student_created("stu-2")
    handle_once(engine, event, on_student_created)
    [first] = unsent(engine)
    assert first.position is not None
    mark_published(engine, first.position)

    applied_again = handle_once(engine, event, on_student_created)

    assert not applied_again
    assert len(rows(engine, Enrollment)) == 1
    assert seats_taken(engine) == 1
    assert unsent(engine) == []


def test_a_refusal_inside_the_use_case_still_records_the_event_and_emits_the_rejection(
    engine: Engine,
) -> None:
    for student in ("a", "b"):
        handle_once(engine, student_created(student), on_student_created)

    handle_once(engine, student_created("c"), on_student_created)

    assert seats_taken(engine) == 2
    assert len(rows(engine, ProcessedEvent)) == 3
    last = unsent(engine)[-1]
    assert SeatRejected.model_validate_json(last.payload).student_id == "c"


def test_a_reaction_that_fails_after_the_effect_leaves_no_trace(engine: Engine) -> None:
    def reserve_then_fail(session: Session, event: Event) -> Sequence[Event]:
        on_student_created(session, event)
        raise RuntimeError("the process died here")

    with pytest.raises(RuntimeError):
        handle_once(engine, student_created("stu-3"), reserve_then_fail)

    assert rows(engine, Enrollment) == []
    assert rows(engine, ProcessedEvent) == []
    assert unsent(engine) == []
    assert seats_taken(engine) == 0


def test_many_deliveries_of_one_event_at_once_apply_it_once(engine: Engine) -> None:
    event = student_created("stu-4")
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(
            pool.map(lambda _: handle_once(engine, event, on_student_created), range(16))
        )

    assert outcomes.count(True) == 1
    assert len(rows(engine, Enrollment)) == 1
    assert seats_taken(engine) == 1
    assert len(rows(engine, OutboxMessage)) == 1
