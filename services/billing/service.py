"""Billing use cases. HTTP routes (and, later, message consumers) are thin adapters over these.

Everything that concerns one idempotency key (charging with it, replaying it, revoking it; the
same for a refund's key) runs under a lock on that key, so a request and the compensation of
its key cannot miss each other. Everything that changes what a charge has refunded (a partial
refund, the full refund, a reversal) also locks the charge row, so the sum of its refunds is
checked and changed by one transaction at a time: refunds never exceed the captured amount and
the full refund happens once. Locks are taken in that order, key first, then charge.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from common.idempotency import (
    IdempotencyKeyReused,
    claim_key,
    commit_or_replay,
    replay,
    undo_by_key,
)
from services.billing import domain
from services.billing.domain import (
    ChargeNotFound,
    ChargeRevoked,
    ChargeStatus,
    RefundRevoked,
    RefundStatus,
)
from services.billing.models import (
    Charge,
    ChargeCreate,
    Refund,
    RefundCreate,
    RevokedChargeKey,
    RevokedRefundKey,
)


def create_charge(
    session: Session, request: ChargeCreate, idempotency_key: str, fingerprint: str
) -> tuple[Charge, bool]:
    """Capture a charge if the card approves. Returns (charge, created); a retry with the same
    key and body returns the first charge with created=False. A declined card stores nothing,
    so a retry is decided afresh."""

    def replay_existing() -> Charge | None:
        return replay(session, Charge, idempotency_key, fingerprint)

    replayed = claim_key(
        session, idempotency_key, Charge, replay_existing, RevokedChargeKey, ChargeRevoked
    )
    if replayed is not None:
        return replayed, False
    domain.authorize(request.payment_token)
    # The timestamp given: a default_factory costs pydantic a signature inspection per row.
    charge = Charge(
        charge_id=str(uuid.uuid4()),
        student_id=request.student_id,
        enrollment_id=request.enrollment_id,
        amount_cents=request.amount_cents,
        currency=request.currency,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        created_at=datetime.now(UTC),
        refunds=[],
    )
    return commit_or_replay(session, charge, replay_existing)


def get_charge(session: Session, charge_id: str) -> Charge:
    charge = session.get(Charge, charge_id)
    if charge is None:
        raise ChargeNotFound(charge_id)
    session.commit()
    return charge


def list_charges(
    session: Session,
    student_id: str | None = None,
    key_prefix: str | None = None,
    enrollment_id: str | None = None,
) -> Sequence[Charge]:
    """Charges, optionally of one student, of one enrollment, or whose idempotency key starts
    with a prefix."""
    statement = select(Charge).order_by(col(Charge.created_at))
    if student_id is not None:
        statement = statement.where(col(Charge.student_id) == student_id)
    if enrollment_id is not None:
        statement = statement.where(col(Charge.enrollment_id) == enrollment_id)
    if key_prefix is not None:
        statement = statement.where(
            col(Charge.idempotency_key).startswith(key_prefix, autoescape=True)
        )
    charges = session.exec(statement).all()
    session.commit()
    return charges


def refund_charge(session: Session, charge_id: str) -> Charge:
    """Refund what is left of a charge and close it; refunding it again changes nothing."""
    charge = _lock_charge(session, charge_id)
    _refund_in_full(charge)
    session.commit()
    return charge


def refund_by_idempotency_key(session: Session, idempotency_key: str) -> Charge | None:
    """Compensate a charge whose outcome the caller never learned: refund it if it exists,
    otherwise revoke the key so a charge still in flight cannot land afterwards."""
    charge = undo_by_key(session, Charge, RevokedChargeKey, idempotency_key)
    if charge is None:
        return None
    return refund_charge(session, charge.charge_id)


def refund_part(
    session: Session,
    charge_id: str,
    request: RefundCreate,
    idempotency_key: str,
    fingerprint: str,
) -> tuple[Refund, bool]:
    """Return part of a charge's money. Returns (refund, created); a retry with the same key,
    charge and body returns the first refund with created=False, whatever became of it since.
    A refund beyond what is left is refused and stores nothing."""

    def replay_existing() -> Refund | None:
        return _replay_refund(session, charge_id, idempotency_key, fingerprint)

    replayed = claim_key(
        session, idempotency_key, Refund, replay_existing, RevokedRefundKey, RefundRevoked
    )
    if replayed is not None:
        return replayed, False
    charge = _lock_charge(session, charge_id)
    domain.check_partial_refund(
        charge_id,
        ChargeStatus(charge.status),
        charge.amount_cents,
        charge.refunded_cents,
        request.amount_cents,
    )
    refund = Refund(
        refund_id=str(uuid.uuid4()),
        charge_id=charge_id,
        amount_cents=request.amount_cents,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    return commit_or_replay(session, refund, replay_existing)


def reverse_refund_by_idempotency_key(session: Session, idempotency_key: str) -> Refund | None:
    """Compensate a partial refund whose outcome the caller may never have learned: take its
    money again if it exists (once), otherwise revoke the key so a refund still in flight
    cannot land afterwards."""
    refund = undo_by_key(session, Refund, RevokedRefundKey, idempotency_key)
    if refund is None:
        return None
    # The refund as read after the key's lock is current: only its key's holder changes it.
    charge = _lock_charge(session, refund.charge_id)
    if domain.reversal_takes_money(
        idempotency_key,
        charge.charge_id,
        ChargeStatus(charge.status),
        RefundStatus(refund.status),
    ):
        refund.status = RefundStatus.REVERSED
        refund.reversed_at = datetime.now(UTC)
    session.commit()
    return refund


def _replay_refund(
    session: Session, charge_id: str, idempotency_key: str, fingerprint: str
) -> Refund | None:
    """The refund first made with this key; the key is refused with a different body, and with
    another charge (the body alone does not name the charge)."""
    refund = replay(session, Refund, idempotency_key, fingerprint)
    if refund is not None and refund.charge_id != charge_id:
        raise IdempotencyKeyReused(idempotency_key)
    return refund


def _refund_in_full(charge: Charge) -> None:
    if not domain.refund_returns_money(ChargeStatus(charge.status)):
        return
    left = charge.amount_cents - charge.refunded_cents
    if left > 0:
        remainder = Refund(
            refund_id=str(uuid.uuid4()), charge_id=charge.charge_id, amount_cents=left
        )
        charge.refunds.append(remainder)
    charge.status = ChargeStatus.REFUNDED
    charge.refunded_at = datetime.now(UTC)


def _lock_charge(session: Session, charge_id: str) -> Charge:
    """Read the charge under a row lock (PostgreSQL) so concurrent refunds refund once.
    populate_existing: a copy already in the session (read before the lock) is refreshed
    rather than trusted, or a refund that waited for the lock would see a stale CAPTURED
    (and, with its refunds loaded again, a stale sum)."""
    charge = session.get(Charge, charge_id, with_for_update=True, populate_existing=True)
    if charge is None:
        raise ChargeNotFound(charge_id)
    return charge
