"""Billing use cases. HTTP routes (and, later, message consumers) are thin adapters over these.

Everything that concerns one idempotency key (charging with it, replaying it, revoking it) runs
under a lock on that key, so a charge and the refund of its key cannot miss each other; a refund
by charge id locks the charge row. Either way a charge is refunded at most once.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from common.database import lock_idempotency_key
from common.idempotency import commit_or_replay, find_by_idempotency_key, replay
from services.billing import domain
from services.billing.domain import (
    ChargeNotFound,
    ChargeRevoked,
    ChargeStatus,
)
from services.billing.models import Charge, ChargeCreate, RevokedChargeKey


def create_charge(
    session: Session, request: ChargeCreate, idempotency_key: str, fingerprint: str
) -> tuple[Charge, bool]:
    """Capture a charge if the card approves. Returns (charge, created); a retry with the same
    key and body returns the first charge with created=False. A declined card stores nothing,
    so a retry is decided afresh."""
    lock_idempotency_key(session, idempotency_key)
    replayed = replay(session, Charge, idempotency_key, fingerprint)
    if replayed is not None:
        session.commit()
        return replayed, False
    if session.get(RevokedChargeKey, idempotency_key) is not None:
        raise ChargeRevoked(idempotency_key)
    domain.authorize(request.payment_token)
    charge = Charge(
        charge_id=str(uuid.uuid4()),
        student_id=request.student_id,
        enrollment_id=request.enrollment_id,
        amount_cents=request.amount_cents,
        currency=request.currency,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    return commit_or_replay(
        session, charge, lambda: replay(session, Charge, idempotency_key, fingerprint)
    )


def get_charge(session: Session, charge_id: str) -> Charge:
    charge = session.get(Charge, charge_id)
    if charge is None:
        raise ChargeNotFound(charge_id)
    session.commit()
    return charge


def list_charges(
    session: Session, student_id: str | None = None, key_prefix: str | None = None
) -> Sequence[Charge]:
    """Charges, optionally of one student or whose idempotency key starts with a prefix."""
    statement = select(Charge).order_by(col(Charge.created_at))
    if student_id is not None:
        statement = statement.where(col(Charge.student_id) == student_id)
    if key_prefix is not None:
        statement = statement.where(
            col(Charge.idempotency_key).startswith(key_prefix, autoescape=True)
        )
    charges = session.exec(statement).all()
    session.commit()
    return charges


def refund_charge(session: Session, charge_id: str) -> Charge:
    """Refund a charge; refunding it again changes nothing (idempotent)."""
    charge = _lock_charge(session, charge_id)
    _refund(charge)
    session.commit()
    return charge


def refund_by_idempotency_key(session: Session, idempotency_key: str) -> Charge | None:
    """Compensate a charge whose outcome the caller never learned: refund it if it exists,
    otherwise revoke the key so a charge still in flight cannot land afterwards."""
    lock_idempotency_key(session, idempotency_key)
    charge = find_by_idempotency_key(session, Charge, idempotency_key)
    if charge is None:
        if session.get(RevokedChargeKey, idempotency_key) is None:
            session.add(RevokedChargeKey(idempotency_key=idempotency_key))
        session.commit()
        return None
    return refund_charge(session, charge.charge_id)


def _refund(charge: Charge) -> None:
    if not domain.refund_returns_money(ChargeStatus(charge.status)):
        return
    charge.status = ChargeStatus.REFUNDED
    charge.refunded_at = datetime.now(UTC)


def _lock_charge(session: Session, charge_id: str) -> Charge:
    """Read the charge under a row lock (PostgreSQL) so concurrent refunds refund once.
    populate_existing: a copy already in the session (read before the lock) is refreshed
    rather than trusted, or a refund that waited for the lock would see a stale CAPTURED."""
    charge = session.get(Charge, charge_id, with_for_update=True, populate_existing=True)
    if charge is None:
        raise ChargeNotFound(charge_id)
    return charge
