"""Two replicas of a service, one database: their outbox relays run at once. On PostgreSQL no
row is published twice (rows are claimed FOR UPDATE SKIP LOCKED while being published); on
SQLite, which has no row locks, a row may go out twice, and every row goes out at least once
and is marked sent."""

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from choreography import outbox
from choreography.events import StudentCreated
from choreography.outbox import OutboxRelay, unsent
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from common.database import create_database_engine, create_tables

EVENTS = 60


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, CHOREOGRAPHY_TABLES)
    with Session(engine) as session:
        for n in range(EVENTS):
            outbox.stage(
                session,
                StudentCreated(
                    student_id=f"stu-{n}",
                    name="Ada",
                    email="ada@example.com",
                    course_id="CS101",
                    payment_token="tok_visa",
                ),
            )
        session.commit()
    yield engine
    engine.dispose()


async def test_two_relays_at_once_publish_every_row_and_on_postgresql_only_once(
    engine: Engine,
) -> None:
    published: Counter[str] = Counter()

    async def publish(_event_type: str, event_id: str, _payload: bytes) -> None:
        published[event_id] += 1
        await asyncio.sleep(0.001)  # a broker round trip, for the other relay to run meanwhile

    relays = [OutboxRelay(engine, publish), OutboxRelay(engine, publish)]

    async def drain(relay: OutboxRelay) -> None:
        while await relay.publish_pending():
            pass

    await asyncio.gather(*(drain(relay) for relay in relays))

    assert len(published) == EVENTS
    assert unsent(engine) == []
    if engine.dialect.name == "postgresql":
        assert set(published.values()) == {1}
