"""Idempotent consumer: an event's effect, the inbox record of its id and the events it emits
commit in one transaction, so a redelivered event finds its id and changes nothing (and
replicas consuming at once apply it once: the record's insert serialises them).

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
from common.database import insert_unless_present

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
    return apply_once(engine, event, react) is not None


def apply_once(engine: Engine, event: Event, react: Reaction) -> int | None:
    """Apply `react` to the event unless its id was processed: the number of events it staged,
    or None for an event already processed."""
    with engine.connect() as connection, connection.begin():
        # The inbox record first, on the outer transaction (not in a use case's savepoint, which
        # a refusal rolls back): a duplicate is found in one statement, and two deliveries of
        # one event at once (a redelivery after an ack timeout) serialise on its key.
        record = {
            "event_id": event.event_id,
            "event_type": event.type,
            "student_id": event.student_id,
            "processed_at": _now(),
        }
        if not insert_unless_present(connection, ProcessedEvent, record, "event_id"):
            return None
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        emitted = react(session, event)
        for follow_up in emitted:
            outbox.stage(session, follow_up)
        session.commit()
        session.close()
    return len(emitted)
