"""Enrollment rules, free of any framework: a seat is held from PENDING until CANCELLED."""

from enum import StrEnum


class EnrollmentStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


SEAT_HOLDING_STATUSES = frozenset({EnrollmentStatus.PENDING, EnrollmentStatus.CONFIRMED})


class CourseNotFound(Exception):
    def __init__(self, course_id: str) -> None:
        super().__init__(f"No course '{course_id}' in the catalogue.")


class EnrollmentNotFound(Exception):
    def __init__(self, enrollment_id: str) -> None:
        super().__init__(f"No enrollment '{enrollment_id}'.")


class CourseFull(Exception):
    def __init__(self, course_id: str) -> None:
        super().__init__(f"Course '{course_id}' has no seat left.")


class EnrollmentNotConfirmable(Exception):
    def __init__(self, enrollment_id: str, state: str) -> None:
        super().__init__(f"Enrollment '{enrollment_id}' is {state} and cannot be confirmed.")


class ReservationRevoked(Exception):
    """The key's reservation was cancelled before it was ever made (a compensation got there
    first, e.g. after the saga gave up on a slow reserve); it must not be made now."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"The reservation with idempotency key '{idempotency_key}' was cancelled.")


def confirmed(
    enrollment_id: str, status: EnrollmentStatus, course_confirms: bool = True
) -> EnrollmentStatus:
    """The status after a confirm; confirming twice is a no-op, a cancelled one is refused, and
    so is any one in a course closed to confirmations (see EnrollmentSettings)."""
    if status is EnrollmentStatus.CANCELLED:
        raise EnrollmentNotConfirmable(enrollment_id, status)
    if not course_confirms and status is not EnrollmentStatus.CONFIRMED:
        raise EnrollmentNotConfirmable(enrollment_id, "in a course closed to confirmations")
    return EnrollmentStatus.CONFIRMED


def cancellation_releases_seat(status: EnrollmentStatus) -> bool:
    """Cancelling releases the seat exactly once: only while the enrollment still holds one."""
    return status in SEAT_HOLDING_STATUSES
