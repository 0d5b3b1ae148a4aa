"""Idempotent consumer: an event's effect, the inbox record of its id and the events it emits
commit in one transaction, so a redelivered event finds its id and changes nothing.

The services' use cases commit their own work (the HTTP API calls them too). Here they run in a
session joined to an outer transaction with savepoints: their commits and rollbacks only
release or roll back savepoints, and nothing is durable until the outer transaction commits with
the inbox record and the outbox rows.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel

from choreography import outbox
from choreography.events import Event
from common.database import lock_idempotency_key

Reaction = Callable[[Session, Event], Sequence[Event]]
"""What a service does on an event: call a use case, return the events to emit."""


def _now() -> datetime:
    return datetime.now(UTC)


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "inbox"

    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=64)
    student_id: str = Field(max_length=100)
    processed_at: datetime = Field(default_factory=_now)


def handle_once(engine: Engine, event: Event, react: Reaction) -> bool:
    """Apply `react` to the event unless its id was processed; True if it was applied now."""
    with engine.connect() as connection, connection.begin():
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        # Two deliveries of one event at once (a redelivery after an ack timeout) serialise here.
        lock_idempotency_key(session, f"inbox:{event.event_id}")
        if session.get(ProcessedEvent, event.event_id) is not None:
            session.close()
            return False
        emitted = react(session, event)
        session.add(
            ProcessedEvent(
                event_id=event.event_id, event_type=event.type, student_id=event.student_id
            )
        )
        for follow_up in emitted:
            outbox.stage(session, follow_up)
        session.commit()
        session.close()
    return True
