"""Reservation expiry: a choreographed saga's PENDING seat is a semantic lock with a TTL.

No process waits on a choreographed saga, so nobody notices when one stops (an event
dead-lettered after the broker's retry budget, a service down for longer): the seat would stay
PENDING and any money captured for it kept. The reservation carries its own deadline instead
(a `ReservationLease`), and a sweep cancels what was not confirmed in time. Leases are taken
only by the choreography consumer, so an orchestrated saga's reservation (which its workflow
confirms or compensates within its own step deadlines) is never expired.

The sweep locks the leases it takes (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so replicas of
the service sweep at once without expiring one reservation twice; SQLite serialises writers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from services.enrollment import service
from services.enrollment.domain import EnrollmentStatus
from services.enrollment.models import Enrollment, ReservationLease

DEFAULT_RESERVATION_TTL_SECONDS = 300.0
SWEEP_BATCH = 100


@dataclass(frozen=True)
class Expired:
    enrollment: Enrollment
    saga_run: int


def lease(session: Session, enrollment: Enrollment, ttl_seconds: float, saga_run: int) -> None:
    """Give a PENDING reservation of run `saga_run` its expiry, `ttl_seconds` from now."""
    if enrollment.status != EnrollmentStatus.PENDING:
        return
    if session.get(ReservationLease, enrollment.enrollment_id) is not None:
        return
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    session.add(
        ReservationLease(
            enrollment_id=enrollment.enrollment_id, expires_at=expires_at, saga_run=saga_run
        )
    )
    session.commit()


def release(session: Session, enrollment_id: str) -> None:
    """The saga decided (confirm or cancel): the reservation no longer expires. Run before the
    decision's own row lock on the enrollment, in the sweep's order (lease, then enrollment)."""
    leased = col(ReservationLease.enrollment_id) == enrollment_id
    session.execute(delete(ReservationLease).where(leased))
    session.commit()


def expire_due(session: Session, now: datetime | None = None) -> Sequence[Expired]:
    """Cancel the reservations whose lease ran out while they were still PENDING (their seats
    are released) and drop their leases; returns the enrollments cancelled now."""
    now = now or datetime.now(UTC)
    due = session.exec(
        select(ReservationLease)
        .where(col(ReservationLease.expires_at) <= now)
        .order_by(col(ReservationLease.expires_at))
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    cancelled = []
    for reservation in due:
        enrollment = session.get(
            Enrollment, reservation.enrollment_id, with_for_update=True, populate_existing=True
        )
        session.delete(reservation)
        if enrollment is not None and enrollment.status == EnrollmentStatus.PENDING:
            service.cancel_enrollment(session, enrollment.enrollment_id)
            cancelled.append(Expired(enrollment, reservation.saga_run))
    session.commit()
    return cancelled
