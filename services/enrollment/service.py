"""Enrollment use cases. HTTP routes (and, later, message consumers) are thin adapters over these.

Seat accounting is one conditional UPDATE (`seats_taken < capacity`), so it stays atomic under
any number of concurrent requests on SQLite (writes serialised) and PostgreSQL (row lock).

Every use case ends its transaction before it returns, reads included: on SQLite each transaction
holds the write lock (`BEGIN IMMEDIATE`), and a sync route still needs a free worker thread to
serialise its answer; a lock held across that wait can leave every worker thread waiting on it.
"""

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, exists, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from common.idempotency import claim_key, commit_or_replay, replay, undo_by_key
from services.enrollment import domain
from services.enrollment.domain import (
    CourseFull,
    CourseNotFound,
    EnrollmentNotFound,
    EnrollmentStatus,
    ReservationRevoked,
)
from services.enrollment.models import (
    Course,
    CourseBase,
    Enrollment,
    EnrollmentCreate,
    RevokedReservationKey,
)

DEFAULT_CATALOGUE = (
    CourseBase(
        course_id="CS101",
        title="Introduction to Computer Science",
        capacity=1_000_000,
        tuition_cents=120_000,
        currency="USD",
    ),
    CourseBase(
        course_id="MATH201",
        title="Linear Algebra",
        capacity=200,
        tuition_cents=95_000,
        currency="USD",
    ),
    CourseBase(
        course_id="SEM1",
        title="Research Seminar (2 seats, for demos)",
        capacity=2,
        tuition_cents=30_000,
        currency="USD",
    ),
)


# The hot path's statements, built once and run with their parameters: building a statement
# per call, and its cache key, cost SQLAlchemy more than running it (tuning log, entry 28).
_courses = Course.__table__.c  # type: ignore[attr-defined]
_enrollments = Enrollment.__table__  # type: ignore[attr-defined]
# One statement takes a seat and reads what it costs (RETURNING: SQLite 3.35+, PostgreSQL).
_TAKE_SEAT = (
    update(Course.__table__)  # type: ignore[attr-defined]
    .where(_courses.course_id == bindparam("course"))
    .where(_courses.seats_taken < _courses.capacity)
    .values(seats_taken=_courses.seats_taken + 1)
    .returning(_courses.tuition_cents, _courses.currency)
)
_COURSE_IS_KNOWN = sa_select(exists().where(_courses.course_id == bindparam("course")))
_LOCK_ENROLLMENT = (
    sa_select(_enrollments)
    .where(_enrollments.c.enrollment_id == bindparam("enrollment"))
    .with_for_update()
)
# The new values come as parameters named after their columns (status, updated_at).
_UPDATE_ENROLLMENT = update(_enrollments).where(
    _enrollments.c.enrollment_id == bindparam("enrollment")
)


def seed_catalogue(session: Session, courses: Iterable[CourseBase] = DEFAULT_CATALOGUE) -> None:
    """Add the courses that are missing; existing ones (and their seat counts) are kept."""
    for course in courses:
        if session.get(Course, course.course_id) is None:
            session.add(Course.model_validate(course.model_dump()))
    session.commit()


def list_courses(session: Session) -> Sequence[Course]:
    courses = session.exec(select(Course).order_by(col(Course.course_id))).all()
    session.commit()
    return courses


def get_course(session: Session, course_id: str) -> Course:
    course = _find_course(session, course_id)
    session.commit()
    return course


def _find_course(session: Session, course_id: str) -> Course:
    course = session.get(Course, course_id)
    if course is None:
        raise CourseNotFound(course_id)
    return course


def reserve_seat(
    session: Session, request: EnrollmentCreate, idempotency_key: str, fingerprint: str
) -> tuple[Enrollment, bool]:
    """Hold a seat with a PENDING enrollment. Returns (enrollment, created); a retry with the
    same key and body returns the first enrollment with created=False."""

    def replay_existing() -> Enrollment | None:
        return replay(session, Enrollment, idempotency_key, fingerprint)

    replayed = claim_key(
        session,
        idempotency_key,
        Enrollment,
        replay_existing,
        RevokedReservationKey,
        ReservationRevoked,
    )
    if replayed is not None:
        return replayed, False
    # Core statements, not the ORM's: nothing here needs an ORM object, and the ORM's UPDATE
    # evaluates the session's identity map first (docs/benchmarks.md, tuning log entry 24).
    connection = session.connection()
    course = connection.execute(_TAKE_SEAT, {"course": request.course_id}).first()
    if course is None:
        known = connection.execute(_COURSE_IS_KNOWN, {"course": request.course_id}).scalar()
        session.rollback()
        raise CourseFull(request.course_id) if known else CourseNotFound(request.course_id)
    # Timestamps given: a default_factory costs pydantic a signature inspection per row.
    now = datetime.now(UTC)
    enrollment = Enrollment(
        enrollment_id=str(uuid.uuid4()),
        student_id=request.student_id,
        course_id=request.course_id,
        tuition_cents=course.tuition_cents,
        currency=course.currency,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        created_at=now,
        updated_at=now,
    )
    return commit_or_replay(session, enrollment, replay_existing)


def get_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise EnrollmentNotFound(enrollment_id)
    session.commit()
    return enrollment


def list_enrollments(
    session: Session,
    student_id: str | None = None,
    key_prefix: str | None = None,
    status: EnrollmentStatus | None = None,
    course_id: str | None = None,
) -> Sequence[Enrollment]:
    """Enrollments, optionally of one student, in one status, in one course, or whose
    idempotency key starts with a prefix (a saga's keys share one: how the invariant checker
    finds a saga's enrollments); filters combine."""
    statement = select(Enrollment).order_by(col(Enrollment.created_at))
    if student_id is not None:
        statement = statement.where(col(Enrollment.student_id) == student_id)
    if status is not None:
        statement = statement.where(col(Enrollment.status) == status)
    if course_id is not None:
        statement = statement.where(col(Enrollment.course_id) == course_id)
    if key_prefix is not None:
        statement = statement.where(
            col(Enrollment.idempotency_key).startswith(key_prefix, autoescape=True)
        )
    enrollments = session.exec(statement).all()
    session.commit()
    return enrollments


def confirm_enrollment(
    session: Session, enrollment_id: str, closed_courses: Collection[str] = ()
) -> Enrollment:
    """Confirm a held seat; refused if the enrollment was cancelled or its course is one of
    `closed_courses` (EnrollmentSettings.unconfirmable_courses)."""
    # Core statements, as the reservation's: every saga confirms (tuning log, entry 25).
    connection = session.connection()
    locked = connection.execute(_LOCK_ENROLLMENT, {"enrollment": enrollment_id}).first()
    if locked is None:
        raise EnrollmentNotFound(enrollment_id)
    enrollment = Enrollment(**locked._mapping)
    new_status = domain.confirmed(
        enrollment_id,
        EnrollmentStatus(enrollment.status),
        course_confirms=enrollment.course_id not in closed_courses,
    )
    if new_status != enrollment.status:
        _set_status(enrollment, new_status)
        connection.execute(
            _UPDATE_ENROLLMENT,
            {
                "enrollment": enrollment_id,
                "status": enrollment.status,
                "updated_at": enrollment.updated_at,
            },
        )
    session.commit()
    return enrollment


def cancel_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    enrollment = _lock_enrollment(session, enrollment_id)
    _cancel(session, enrollment)
    session.commit()
    return enrollment


def cancel_by_idempotency_key(session: Session, idempotency_key: str) -> Enrollment | None:
    """Compensate a reservation whose outcome the caller never learned: cancel it if it exists,
    otherwise revoke the key so a reservation still in flight cannot land afterwards."""
    enrollment = undo_by_key(session, Enrollment, RevokedReservationKey, idempotency_key)
    if enrollment is None:
        return None
    enrollment = _lock_enrollment(session, enrollment.enrollment_id)
    _cancel(session, enrollment)
    session.commit()
    return enrollment


def withdraw_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    """Withdraw from a CONFIRMED enrollment and release its seat; withdrawing again changes
    nothing, and a PENDING or CANCELLED enrollment is refused."""
    enrollment = _lock_enrollment(session, enrollment_id)
    status = EnrollmentStatus(enrollment.status)
    new_status = domain.withdrawn(enrollment_id, status)
    if new_status is not status:
        _release_seat(session, enrollment)
        _set_status(enrollment, new_status)
    session.commit()
    return enrollment


def _cancel(session: Session, enrollment: Enrollment) -> None:
    """A cancel of an enrollment that holds no seat (CANCELLED, WITHDRAWN) changes nothing."""
    if not domain.cancellation_releases_seat(EnrollmentStatus(enrollment.status)):
        return
    _release_seat(session, enrollment)
    _set_status(enrollment, EnrollmentStatus.CANCELLED)


def _release_seat(session: Session, enrollment: Enrollment) -> None:
    """Give the enrollment's seat back; callers hold the enrollment's row lock and release only
    on a change of status away from a seat-holding one, so a seat is given back once."""
    session.execute(
        update(Course)
        .where(col(Course.course_id) == enrollment.course_id)
        .values(seats_taken=col(Course.seats_taken) - 1)
    )


def _lock_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    """Read the enrollment under a row lock (PostgreSQL) so concurrent cancels release once.
    `populate_existing` makes the locked read win over a copy this session loaded earlier."""
    enrollment = session.get(
        Enrollment, enrollment_id, with_for_update=True, populate_existing=True
    )
    if enrollment is None:
        raise EnrollmentNotFound(enrollment_id)
    return enrollment


def _set_status(enrollment: Enrollment, status: EnrollmentStatus) -> None:
    enrollment.status = status
    enrollment.updated_at = datetime.now(UTC)
