"""Choreography adapter of the enrollment service: on each event it subscribes to, call the same
use case as the HTTP API and say which event follows. Runs inside choreography.inbox.handle_once,
so the effect, the inbox record and the follow-up event commit together."""

from collections.abc import Collection, Sequence
from functools import partial

from sqlmodel import Session

from choreography.events import (
    EnrollmentCancelled,
    EnrollmentConfirmationFailed,
    EnrollmentConfirmed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    SeatRejected,
    SeatReserved,
    StudentCreated,
    idempotency_key,
)
from choreography.inbox import Reaction
from common.requests import request_fingerprint
from services.enrollment import service
from services.enrollment.domain import (
    CourseFull,
    CourseNotFound,
    EnrollmentNotConfirmable,
    ReservationRevoked,
)
from services.enrollment.models import EnrollmentCreate


def reservation_key(student_id: str) -> str:
    return idempotency_key(student_id, "reserve_seat")


def on_student_created(session: Session, event: Event) -> Sequence[Event]:
    assert isinstance(event, StudentCreated)
    request = EnrollmentCreate(student_id=event.student_id, course_id=event.course_id)
    try:
        enrollment, _ = service.reserve_seat(
            session, request, reservation_key(event.student_id), request_fingerprint(request)
        )
    except (CourseFull, CourseNotFound, ReservationRevoked) as refusal:
        return [SeatRejected.following(event, course_id=event.course_id, reason=str(refusal))]
    return [
        SeatReserved.following(
            event,
            enrollment_id=enrollment.enrollment_id,
            course_id=enrollment.course_id,
            tuition_cents=enrollment.tuition_cents,
            currency=enrollment.currency,
            payment_token=event.payment_token,
        )
    ]


def on_payment_captured(
    session: Session, event: Event, closed_courses: Collection[str] = ()
) -> Sequence[Event]:
    assert isinstance(event, PaymentCaptured)
    try:
        service.confirm_enrollment(session, event.enrollment_id, closed_courses)
    except EnrollmentNotConfirmable as refusal:
        return [
            EnrollmentConfirmationFailed.following(
                event,
                enrollment_id=event.enrollment_id,
                charge_id=event.charge_id,
                reason=str(refusal),
            )
        ]
    return [EnrollmentConfirmed.following(event, enrollment_id=event.enrollment_id)]


def on_payment_failed_or_refunded(session: Session, event: Event) -> Sequence[Event]:
    """A declined or refunded payment cancels the enrollment and releases its seat (once)."""
    assert isinstance(event, PaymentDeclined | PaymentRefunded)
    service.cancel_enrollment(session, event.enrollment_id)
    return [EnrollmentCancelled.following(event, enrollment_id=event.enrollment_id)]


def reactions(closed_courses: Collection[str] = ()) -> dict[type[Event], Reaction]:
    """What this service does on each event; `closed_courses`: see confirm_enrollment."""
    return {
        StudentCreated: on_student_created,
        PaymentCaptured: partial(on_payment_captured, closed_courses=closed_courses),
        PaymentDeclined: on_payment_failed_or_refunded,
        PaymentRefunded: on_payment_failed_or_refunded,
    }
