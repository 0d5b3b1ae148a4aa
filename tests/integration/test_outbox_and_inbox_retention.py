"""Pruning the outbox and the inbox, on SQLite and PostgreSQL: what is older than the retention
goes, what the relay has not published yet or the retention still covers stays."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from choreography.config import BrokerConfig
from choreography.events import Event, StudentCreated
from choreography.inbox import ProcessedEvent, handle_once
from choreography.outbox import OutboxMessage, mark_published, unsent
from choreography.retention import prune
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from choreography.timers import run_job
from common.database import create_database_engine, create_tables

RETENTION = timedelta(days=7)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, CHOREOGRAPHY_TABLES)
    yield engine
    engine.dispose()


def student_created(student_id: str) -> StudentCreated:
    return StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id="CS101",
        payment_token="tok_visa",
    )


def apply_and_emit(engine: Engine, student_id: str) -> None:
    """An event applied once (an inbox record) that emitted one follow-up (an outbox row)."""

    def emit_it_again(_: Session, event: Event) -> list[Event]:
        return [student_created(f"{event.student_id}-next")]

    handle_once(engine, student_created(student_id), emit_it_again)


def count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return len(session.exec(select(table)).all())


def prune_as_of(engine: Engine, now: datetime) -> None:
    run_job(engine, partial(prune, retention_seconds=RETENTION.total_seconds(), now=now))


def test_rows_inside_the_retention_are_kept(engine: Engine) -> None:
    apply_and_emit(engine, "stu-1")
    [row] = unsent(engine)
    assert row.position is not None
    mark_published(engine, row.position)

    prune_as_of(engine, datetime.now(UTC) + RETENTION - timedelta(minutes=1))

    assert (count(engine, OutboxMessage), count(engine, ProcessedEvent)) == (1, 1)


def test_published_rows_and_inbox_records_past_the_retention_are_pruned(engine: Engine) -> None:
    apply_and_emit(engine, "stu-2")
    [row] = unsent(engine)
    assert row.position is not None
    mark_published(engine, row.position)

    prune_as_of(engine, datetime.now(UTC) + RETENTION + timedelta(minutes=1))

    assert (count(engine, OutboxMessage), count(engine, ProcessedEvent)) == (0, 0)


def test_an_unpublished_row_is_never_pruned(engine: Engine) -> None:
    apply_and_emit(engine, "stu-3")

    prune_as_of(engine, datetime.now(UTC) + RETENTION * 10)

    assert len(unsent(engine)) == 1


def test_a_retention_shorter_than_the_redelivery_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="redelivery window"):
        BrokerConfig(url="nats://127.0.0.1:4222", retention_seconds=60)
