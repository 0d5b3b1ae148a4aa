"""Transactional outbox: events are rows written in the same transaction as the state change
that caused them, and a relay publishes them afterwards and marks them sent.

A crash or a broker outage between the commit and the publish loses nothing: the row waits and
the relay retries. A crash between publish and marking sent publishes the event again; it has
the same event id, so NATS drops it within its duplicate window and every inbox ignores it.
Rows are published in the order they were written (`position`), one at a time, and marked sent
a batch at a time. Replicas of a service on PostgreSQL share the work without publishing a row
twice (`_Claim`); see OutboxRelay.publish_pending for SQLite.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from opentelemetry.trace import Tracer
from sqlalchemy import Engine, update
from sqlmodel import Field, Session, SQLModel, col, select

from choreography.events import Event, to_json
from choreography.tracing import producer_span, stored_trace_context
from common.database import insert_unless_present

logger = logging.getLogger(__name__)


# EventBus.publish: (event type, event id, payload), and `headers=` (the trace's) only when
# the relay traces, so an untraced relay publishes through any three-argument function.
Publish = Callable[..., Awaitable[None]]


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
    # The W3C trace context (JSON of its headers) of the span that staged the event, which the
    # relay's span continues; None when tracing was off.
    trace_context: str | None = None


def stage(session: Session, event: Event) -> None:
    """Add the event to the session's transaction; it is sent only if that commits.

    An event already staged (same id) is left as it is: a saga's event may be reached by two
    paths (a reservation cancelled by its expiry and then by the refund of a late capture), and
    it happens once per saga whichever path comes first."""
    values: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.type,
        "student_id": event.student_id,
        "payload": to_json(event).decode(),
        "created_at": _now(),
        "trace_context": stored_trace_context(),
    }
    insert_unless_present(session, OutboxMessage, values, "event_id")


BATCH = 100


def _unsent_statement(limit: int) -> Any:
    return (
        select(OutboxMessage)
        .where(col(OutboxMessage.published_at).is_(None))
        .order_by(col(OutboxMessage.position))
        .limit(limit)
    )


def unsent(engine: Engine, limit: int = BATCH) -> Sequence[OutboxMessage]:
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(_unsent_statement(limit)).all()
        session.commit()
        return rows


def _mark(session: Session, positions: Sequence[int]) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.position).in_(positions))
        .where(col(OutboxMessage.published_at).is_(None))
        .values(published_at=_now())
    )


def mark_published(engine: Engine, *positions: int) -> None:
    """Mark rows sent (one statement for a whole batch)."""
    with Session(engine, expire_on_commit=False) as session:
        _mark(session, positions)
        session.commit()


class _Claim:
    """PostgreSQL: unsent rows locked `FOR UPDATE SKIP LOCKED` in a transaction held while the
    relay publishes them, so a replica's relay skips what another one is publishing and no row
    is published twice; marked sent and unlocked in the same transaction."""

    def __init__(self, engine: Engine) -> None:
        self._session = Session(engine, expire_on_commit=False)

    def rows(self, limit: int = BATCH) -> Sequence[OutboxMessage]:
        return self._session.exec(_unsent_statement(limit).with_for_update(skip_locked=True)).all()

    def finish(self, positions: Sequence[int]) -> None:
        try:
            if positions:
                _mark(self._session, positions)
            self._session.commit()
        finally:
            self._session.close()


class OutboxRelay:
    """Publishes unsent rows; woken after a local commit, and polls in case it was not. With a
    `tracer`, each row in a producer span (attributed to `messaging_system`) that continues the
    trace it was staged in and travels on in the message's headers."""

    def __init__(
        self,
        engine: Engine,
        publish: Publish,
        poll_seconds: float = 0.5,
        retry_seconds: float = 1.0,
        tracer: Tracer | None = None,
        messaging_system: str = "",
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._tracer = tracer
        self._messaging_system = messaging_system
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
        """Publish what is unsent, in order; stops at the first failure (raised), having marked
        what was sent before it. On SQLite, relays of replicas sharing the file may publish a
        row twice (no row locks): NATS drops the copy by message id, every inbox ignores it."""
        claim = _Claim(self._engine) if self._engine.dialect.name == "postgresql" else None
        try:
            rows = await asyncio.to_thread(
                claim.rows if claim is not None else partial(unsent, self._engine)
            )
        except BaseException:
            if claim is not None:
                await asyncio.to_thread(claim.finish, [])
            raise
        sent: list[int] = []
        try:
            for row in rows:
                await self._publish_row(row)
                assert row.position is not None
                sent.append(row.position)
        finally:
            if claim is not None:
                await asyncio.to_thread(claim.finish, sent)
            elif sent:
                await asyncio.to_thread(mark_published, self._engine, *sent)
        return len(rows)

    async def _publish_row(self, row: OutboxMessage) -> None:
        payload = row.payload.encode()
        if self._tracer is None:
            await self._publish(row.event_type, row.event_id, payload)
            return
        attributes = {
            "messaging.system": self._messaging_system,
            "messaging.message.id": row.event_id,
            "saga.student_id": row.student_id,
        }
        with producer_span(self._tracer, row.event_type, row.trace_context, attributes) as headers:
            await self._publish(row.event_type, row.event_id, payload, headers=headers)
