"""Pruning: published outbox rows and inbox records are kept for a retention, then deleted.

The retention is at least the broker's redelivery window (BrokerConfig refuses less), so an
inbox never forgets an event the broker may still deliver again, nor an outbox a row its relay
may still publish. A dead letter re-driven after the retention, though, may find its event
forgotten by the inboxes that had applied it: re-drive within the retention (7 days by default).
Every process on the bus prunes its own database; replicas pruning at once delete each row once.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from choreography.events import Event
from choreography.inbox import ProcessedEvent
from choreography.outbox import OutboxMessage
from choreography.timers import Timer

# How often a process prunes: rarely, the work is small and nothing waits for it.
PRUNE_EVERY_SECONDS = 3600.0


def prune(
    session: Session, retention_seconds: float, now: datetime | None = None
) -> Sequence[Event]:
    """Delete published outbox rows and inbox records older than the retention; emits nothing."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=retention_seconds)
    published = col(OutboxMessage.published_at)
    session.execute(delete(OutboxMessage).where(published.is_not(None), published < cutoff))
    session.execute(delete(ProcessedEvent).where(col(ProcessedEvent.processed_at) < cutoff))
    session.commit()
    return []


def pruning_timer(retention_seconds: float) -> Timer:
    every = min(PRUNE_EVERY_SECONDS, retention_seconds / 10)
    return Timer("prune-outbox-and-inbox", every, lambda session: prune(session, retention_seconds))
