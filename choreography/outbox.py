"""Transactional outbox: events are rows written in the same transaction as the state change
that caused them, and a relay publishes them afterwards and marks them sent.

A crash or a broker outage between the commit and the publish loses nothing: the row waits and
the relay retries. A crash between publish and marking sent publishes the event again; it has
the same event id, so NATS drops it within its duplicate window and every inbox ignores it.
Rows are published in the order they were written (`position`), one at a time.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from choreography.events import Event, to_json

logger = logging.getLogger(__name__)

Publish = Callable[[str, str, bytes], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    position: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    event_type: str = Field(max_length=64)
    student_id: str = Field(max_length=100)
    payload: str
    created_at: datetime = Field(default_factory=_now)
    published_at: datetime | None = Field(default=None, index=True)


def stage(session: Session, event: Event) -> None:
    """Add the event to the session's transaction; it is sent only if that commits.

    An event already staged (same id) is left as it is: a saga's event may be reached by two
    paths (a reservation cancelled by its expiry and then by the refund of a late capture), and
    it happens once per saga whichever path comes first."""
    values = {
        "event_id": event.event_id,
        "event_type": event.type,
        "student_id": event.student_id,
        "payload": to_json(event).decode(),
        "created_at": _now(),
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    )


def unsent(engine: Engine, limit: int = 100) -> Sequence[OutboxMessage]:
    with Session(engine, expire_on_commit=False) as session:
        statement = (
            select(OutboxMessage)
            .where(col(OutboxMessage.published_at).is_(None))
            .order_by(col(OutboxMessage.position))
            .limit(limit)
        )
        rows = session.exec(statement).all()
        session.commit()
        return rows


def mark_published(engine: Engine, position: int) -> None:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(OutboxMessage, position)
        if row is not None and row.published_at is None:
            row.published_at = _now()
        session.commit()


class OutboxRelay:
    """Publishes unsent rows; woken after a local commit, and polls in case it was not."""

    def __init__(
        self,
        engine: Engine,
        publish: Publish,
        poll_seconds: float = 0.5,
        retry_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.publish_pending()
            except Exception as error:  # broker down, database busy: keep the rows, retry
                logger.warning("outbox relay: %r; retrying in %.1fs", error, self._retry_seconds)
                await asyncio.sleep(self._retry_seconds)
                continue
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def publish_pending(self) -> int:
        """Publish what is unsent, in order; stops at the first failure (raised)."""
        rows = await asyncio.to_thread(unsent, self._engine)
        for row in rows:
            await self._publish(row.event_type, row.event_id, row.payload.encode())
            assert row.position is not None
            await asyncio.to_thread(mark_published, self._engine, row.position)
        return len(rows)
