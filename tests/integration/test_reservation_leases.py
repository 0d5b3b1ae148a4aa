"""The reservation expiry over the enrollment service's real use cases and the outbox, on SQLite
and PostgreSQL: only a choreographed reservation still PENDING past its lease is cancelled, once,
with its EnrollmentCancelled, however many sweeps run at once."""

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from choreography.events import EnrollmentCancelled, PaymentCaptured, StudentCreated
from choreography.inbox import handle_once
from choreography.outbox import OutboxMessage
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from choreography.timers import run_job
from common.database import create_database_engine, create_tables
from services.enrollment import service
from services.enrollment.consumers import (
    expire_reservations,
    on_payment_captured,
    on_student_created,
)
from services.enrollment.models import (
    TABLES,
    Course,
    CourseBase,
    Enrollment,
    EnrollmentCreate,
    ReservationLease,
)

COURSE = CourseBase(course_id="C1", title="Course", capacity=100, tuition_cents=5, currency="USD")
TTL = 60.0


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (*TABLES, *CHOREOGRAPHY_TABLES))
    with Session(engine) as session:
        service.seed_catalogue(session, [COURSE])
    yield engine
    engine.dispose()


def reserve_choreographed(engine: Engine, student_id: str) -> Enrollment:
    event = StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id=COURSE.course_id,
        payment_token="tok_visa",
    )
    handle_once(engine, event, partial(on_student_created, reservation_ttl_seconds=TTL))
    with Session(engine, expire_on_commit=False) as session:
        enrollment = session.exec(
            select(Enrollment).where(col(Enrollment.student_id) == student_id)
        ).one()
        session.commit()
    return enrollment


def leases_run_out(engine: Engine) -> None:
    """Move every lease's expiry into the past (instead of waiting the TTL out)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with Session(engine) as session:
        session.execute(update(ReservationLease).values(expires_at=past))
        session.commit()


def sweep(engine: Engine) -> int:
    return run_job(engine, partial(expire_reservations, ttl_seconds=TTL))


def status_of(engine: Engine, enrollment_id: str) -> str:
    with Session(engine) as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        return enrollment.status


def seats_taken(engine: Engine) -> int:
    with Session(engine) as session:
        course = session.get(Course, COURSE.course_id)
        assert course is not None
        return course.seats_taken


def cancellations(engine: Engine) -> Sequence[EnrollmentCancelled]:
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.event_type) == "EnrollmentCancelled")
        ).all()
        return [EnrollmentCancelled.model_validate_json(row.payload) for row in rows]


def test_a_reservation_within_its_lease_is_left_alone(engine: Engine) -> None:
    enrollment = reserve_choreographed(engine, "stu-1")

    assert sweep(engine) == 0

    assert status_of(engine, enrollment.enrollment_id) == "PENDING"


def test_a_pending_reservation_past_its_lease_is_cancelled_with_its_event(engine: Engine) -> None:
    enrollment = reserve_choreographed(engine, "stu-2")
    leases_run_out(engine)

    assert sweep(engine) == 1

    assert status_of(engine, enrollment.enrollment_id) == "CANCELLED"
    assert seats_taken(engine) == 0
    [cancelled] = cancellations(engine)
    assert (cancelled.student_id, cancelled.enrollment_id) == ("stu-2", enrollment.enrollment_id)
    assert cancelled.expired and "expired" in cancelled.reason
    assert sweep(engine) == 0


def test_a_confirmed_reservation_never_expires(engine: Engine) -> None:
    enrollment = reserve_choreographed(engine, "stu-3")
    captured = PaymentCaptured(
        student_id="stu-3", charge_id="ch-3", enrollment_id=enrollment.enrollment_id
    )
    handle_once(engine, captured, on_payment_captured)
    leases_run_out(engine)

    assert sweep(engine) == 0

    assert status_of(engine, enrollment.enrollment_id) == "CONFIRMED"
    assert seats_taken(engine) == 1


def test_a_reservation_made_over_http_like_the_orchestrated_saga_never_expires(
    engine: Engine,
) -> None:
    request = EnrollmentCreate(student_id="stu-4", course_id=COURSE.course_id)
    with Session(engine, expire_on_commit=False) as session:
        enrollment, _ = service.reserve_seat(session, request, "wf:run:reserve_seat", "f")
    leases_run_out(engine)

    assert sweep(engine) == 0

    assert status_of(engine, enrollment.enrollment_id) == "PENDING"


def test_replicas_sweeping_at_once_expire_each_reservation_once(engine: Engine) -> None:
    enrollments = [reserve_choreographed(engine, f"stu-r{n}") for n in range(12)]
    leases_run_out(engine)

    with ThreadPoolExecutor(max_workers=4) as pool:
        emitted = sum(pool.map(lambda _: sweep(engine), range(8)))

    assert emitted == len(enrollments)
    assert {status_of(engine, e.enrollment_id) for e in enrollments} == {"CANCELLED"}
    assert seats_taken(engine) == 0
    assert len(cancellations(engine)) == len(enrollments)
