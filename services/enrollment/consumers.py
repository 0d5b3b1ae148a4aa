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
)
from choreography.inbox import Reaction
from choreography.timers import Timer
from common.requests import request_fingerprint
from services.enrollment import expiry, service
from services.enrollment.domain import (
    CourseFull,
    CourseNotFound,
    EnrollmentNotConfirmable,
    ReservationRevoked,
)
from services.enrollment.models import EnrollmentCreate
from workflows.contracts import Step


def reservation_key(event: Event) -> str:
    return event.key(Step.RESERVE_SEAT)


def on_student_created(
    session: Session,
    event: Event,
    reservation_ttl_seconds: float = expiry.DEFAULT_RESERVATION_TTL_SECONDS,
) -> Sequence[Event]:
    assert isinstance(event, StudentCreated)
    request = EnrollmentCreate(student_id=event.student_id, course_id=event.course_id)
    try:
        enrollment, _ = service.reserve_seat(
            session, request, reservation_key(event), request_fingerprint(request)
        )
    except (CourseFull, CourseNotFound, ReservationRevoked) as refusal:
        return [SeatRejected.following(event, course_id=event.course_id, reason=str(refusal))]
    expiry.lease(session, enrollment, reservation_ttl_seconds, event.run)
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
    expiry.release(session, event.enrollment_id)
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
    expiry.release(session, event.enrollment_id)
    service.cancel_enrollment(session, event.enrollment_id)
    return [EnrollmentCancelled.following(event, enrollment_id=event.enrollment_id)]


def expire_reservations(session: Session, ttl_seconds: float) -> Sequence[Event]:
    """The reservations not confirmed in time are cancelled; each saga learns it from an
    EnrollmentCancelled (expired), on which billing refunds whatever it captured."""
    reason = f"reservation expired: not confirmed within {ttl_seconds:g} s"
    return [
        EnrollmentCancelled(
            student_id=expired.enrollment.student_id,
            run=expired.saga_run,
            enrollment_id=expired.enrollment.enrollment_id,
            expired=True,
            reason=reason,
        )
        for expired in expiry.expire_due(session)
    ]


def reactions(
    closed_courses: Collection[str] = (),
    reservation_ttl_seconds: float = expiry.DEFAULT_RESERVATION_TTL_SECONDS,
) -> dict[type[Event], Reaction]:
    """What this service does on each event; `closed_courses`: see confirm_enrollment."""
    return {
        StudentCreated: partial(
            on_student_created, reservation_ttl_seconds=reservation_ttl_seconds
        ),
        PaymentCaptured: partial(on_payment_captured, closed_courses=closed_courses),
        PaymentDeclined: on_payment_failed_or_refunded,
        PaymentRefunded: on_payment_failed_or_refunded,
    }


def timers(reservation_ttl_seconds: float) -> list[Timer]:
    """The expiry sweep, a tenth of the TTL apart (at most 5 s): a reservation is cancelled
    within that much of its deadline."""
    every = min(max(reservation_ttl_seconds / 10, 0.1), 5.0)
    job = partial(expire_reservations, ttl_seconds=reservation_ttl_seconds)
    return [Timer("reservation-expiry", every, job)]
