"""Enrollment rules, free of any framework: a seat is held from PENDING until CANCELLED or
WITHDRAWN.

PENDING (a seat held, not yet paid for) -> CONFIRMED (enrolled) or CANCELLED (the reservation
undone); CONFIRMED -> WITHDRAWN (the student left the course, e.g. for another one in a
transfer) or CANCELLED (the enrollment undone). CANCELLED and WITHDRAWN are final and hold no
seat; each releases the seat exactly once. A student may hold enrollments in several courses
at once: a transfer reserves the new seat while the old enrollment is still CONFIRMED.
"""

from enum import StrEnum


class EnrollmentStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    WITHDRAWN = "WITHDRAWN"


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


class EnrollmentNotWithdrawable(Exception):
    def __init__(self, enrollment_id: str, state: str) -> None:
        super().__init__(
            f"Enrollment '{enrollment_id}' is {state}: only a CONFIRMED enrollment can be "
            "withdrawn."
        )


class ReservationRevoked(Exception):
    """The key's reservation was cancelled before it was ever made (a compensation got there
    first, e.g. after the saga gave up on a slow reserve); it must not be made now."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"The reservation with idempotency key '{idempotency_key}' was cancelled.")


def confirmed(
    enrollment_id: str, status: EnrollmentStatus, course_confirms: bool = True
) -> EnrollmentStatus:
    """The status after a confirm; confirming twice is a no-op, a cancelled or withdrawn one is
    refused (it holds no seat), and so is any one in a course closed to confirmations (see
    EnrollmentSettings)."""
    if status not in SEAT_HOLDING_STATUSES:
        raise EnrollmentNotConfirmable(enrollment_id, status)
    if not course_confirms and status is not EnrollmentStatus.CONFIRMED:
        raise EnrollmentNotConfirmable(enrollment_id, "in a course closed to confirmations")
    return EnrollmentStatus.CONFIRMED


def cancellation_releases_seat(status: EnrollmentStatus) -> bool:
    """Cancelling releases the seat exactly once: only while the enrollment still holds one."""
    return status in SEAT_HOLDING_STATUSES


def withdrawn(enrollment_id: str, status: EnrollmentStatus) -> EnrollmentStatus:
    """The status after a withdrawal: a CONFIRMED enrollment is WITHDRAWN, withdrawing twice is
    a no-op, and one never confirmed (PENDING) or undone (CANCELLED) is refused."""
    if status not in (EnrollmentStatus.CONFIRMED, EnrollmentStatus.WITHDRAWN):
        raise EnrollmentNotWithdrawable(enrollment_id, status)
    return EnrollmentStatus.WITHDRAWN
