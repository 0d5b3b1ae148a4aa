"""Choreography adapter of the billing service: on each event it subscribes to, call the same
use case as the HTTP API and say which event follows (see choreography.inbox.handle_once)."""

from collections.abc import Sequence
from functools import partial

from sqlmodel import Session

from choreography.events import (
    EnrollmentCancelled,
    EnrollmentConfirmationFailed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    SeatReserved,
)
from choreography.inbox import Reaction
from choreography.sealing import FieldSealer
from common.payload_keys import PayloadKeys
from common.requests import request_fingerprint
from services.billing import service
from services.billing.domain import CardDeclined, ChargeRevoked, ChargeStatus
from services.billing.models import ChargeCreate
from workflows.contracts import Step


def charge_key(event: Event) -> str:
    return event.key(Step.CHARGE_TUITION)


def on_seat_reserved(session: Session, event: Event, sealer: FieldSealer) -> Sequence[Event]:
    """Charge the tuition with the payment token the API sealed (opened here, used, never
    stored: the charge keeps no token)."""
    assert isinstance(event, SeatReserved)
    request = ChargeCreate(
        student_id=event.student_id,
        enrollment_id=event.enrollment_id,
        amount_cents=event.tuition_cents,
        currency=event.currency,
        payment_token=sealer.open(event.student_id, "payment_token", event.payment_token),
    )
    try:
        charge, _ = service.create_charge(
            session, request, charge_key(event), request_fingerprint(request)
        )
    except (CardDeclined, ChargeRevoked) as refusal:
        return [
            PaymentDeclined.following(event, enrollment_id=event.enrollment_id, reason=str(refusal))
        ]
    return [
        PaymentCaptured.following(
            event, charge_id=charge.charge_id, enrollment_id=event.enrollment_id
        )
    ]


def on_confirmation_failed(session: Session, event: Event) -> Sequence[Event]:
    assert isinstance(event, EnrollmentConfirmationFailed)
    service.refund_charge(session, event.charge_id)
    return [
        PaymentRefunded.following(
            event, charge_id=event.charge_id, enrollment_id=event.enrollment_id
        )
    ]


def on_enrollment_cancelled(session: Session, event: Event) -> Sequence[Event]:
    """No money is kept for a cancelled enrollment: a capture is refunded (PaymentRefunded),
    and without one the charge's key is revoked, so a SeatReserved still in flight (retried,
    re-driven) charges nothing (PaymentVoided). A refund already made is not repeated, and its
    PaymentRefunded, already staged, is not staged again (choreography.outbox.stage)."""
    assert isinstance(event, EnrollmentCancelled)
    charge = service.refund_by_idempotency_key(session, charge_key(event))
    if charge is None:
        return [PaymentVoided.following(event, enrollment_id=event.enrollment_id)]
    assert charge.status == ChargeStatus.REFUNDED
    return [
        PaymentRefunded.following(
            event, charge_id=charge.charge_id, enrollment_id=event.enrollment_id
        )
    ]


def reactions(payload_keys: PayloadKeys | None = None) -> dict[type[Event], Reaction]:
    """What this service does on each event; `payload_keys` open the sealed payment tokens."""
    return {
        SeatReserved: partial(on_seat_reserved, sealer=FieldSealer(payload_keys)),
        EnrollmentConfirmationFailed: on_confirmation_failed,
        EnrollmentCancelled: on_enrollment_cancelled,
    }
