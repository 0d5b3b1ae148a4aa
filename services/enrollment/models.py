"""Tables and API shapes of the enrollment service (SQLModel: Base, Create, table, Public)."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints
from sqlmodel import Field, SQLModel

from common.ids import COURSE_ID_MAX_LENGTH, STUDENT_ID_MAX_LENGTH
from common.requests import WITHOUT_NUL
from services.enrollment.domain import EnrollmentStatus

ENROLLMENT_ID_MAX_LENGTH = 36

# SQLModel's `Field(regex=...)` is ignored under pydantic 2; a constraint in the type is not.
TextWithoutNul = Annotated[str, StringConstraints(pattern=WITHOUT_NUL)]


def _now() -> datetime:
    return datetime.now(UTC)


class CourseBase(SQLModel):
    course_id: str = Field(primary_key=True, max_length=COURSE_ID_MAX_LENGTH)
    title: str
    capacity: int = Field(ge=0)
    tuition_cents: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class Course(CourseBase, table=True):
    seats_taken: int = 0


class CoursePublic(CourseBase):
    seats_taken: int
    seats_available: int


class EnrollmentCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    student_id: TextWithoutNul = Field(min_length=1, max_length=STUDENT_ID_MAX_LENGTH)
    course_id: TextWithoutNul = Field(min_length=1, max_length=COURSE_ID_MAX_LENGTH)


class Enrollment(SQLModel, table=True):
    enrollment_id: str = Field(primary_key=True, max_length=ENROLLMENT_ID_MAX_LENGTH)
    student_id: str = Field(index=True, max_length=STUDENT_ID_MAX_LENGTH)
    course_id: str = Field(foreign_key="course.course_id", max_length=COURSE_ID_MAX_LENGTH)
    status: str = Field(default=EnrollmentStatus.PENDING, max_length=16)
    tuition_cents: int
    currency: str = Field(max_length=3)
    idempotency_key: str = Field(unique=True, max_length=255)
    request_fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class RevokedReservationKey(SQLModel, table=True):
    """An idempotency key cancelled before any reservation was made with it (a tombstone)."""

    idempotency_key: str = Field(primary_key=True, max_length=255)
    revoked_at: datetime = Field(default_factory=_now)


class ReservationLease(SQLModel, table=True):
    """The expiry of a choreographed saga's PENDING reservation (a semantic lock with a TTL):
    a row while the seat is held unconfirmed, deleted when the saga confirms or cancels it, or
    by the expiry (services/enrollment/expiry.py). Orchestrated sagas' reservations have none."""

    __tablename__ = "reservation_lease"

    enrollment_id: str = Field(primary_key=True, max_length=ENROLLMENT_ID_MAX_LENGTH)
    expires_at: datetime = Field(index=True)
    saga_run: int = 1  # the run of the saga that holds it (its events carry it)


class EnrollmentPublic(SQLModel):
    enrollment_id: str
    student_id: str
    course_id: str
    status: EnrollmentStatus
    tuition_cents: int
    currency: str
    idempotency_key: str  # the caller's own key: lets a saga find what it created


TABLES = (Course, Enrollment, RevokedReservationKey, ReservationLease)
