"""A retried choreographed saga, on SQLite and PostgreSQL: the tracker reads the new run from
the moment the retry commits, whatever the old run's events do after it."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from choreography import sagas, tracker
from choreography.events import (
    EnrollmentCancelled,
    Event,
    PaymentDeclined,
    SeatReserved,
    StudentCreated,
)
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from common.database import create_database_engine, create_tables
from sagas import SagaStatus


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (*sagas.TABLES, *CHOREOGRAPHY_TABLES))
    yield engine
    engine.dispose()


def declined_run(student_id: str) -> tuple[StudentCreated, list[Event]]:
    created = StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id="CS101",
        payment_token="tok_declined",
    )
    reserved = SeatReserved.following(
        created,
        enrollment_id="enr-1",
        course_id="CS101",
        tuition_cents=50_000,
        currency="USD",
        payment_token="tok_declined",
    )
    declined = PaymentDeclined.following(created, enrollment_id="enr-1", reason="declined")
    cancelled = EnrollmentCancelled.following(created, enrollment_id="enr-1")
    return created, [created, reserved, declined, cancelled]


def status_of(engine: Engine, student_id: str) -> str:
    state = sagas.saga_state(engine, student_id)
    assert state is not None
    return state.status


def test_a_late_event_of_the_compensated_run_leaves_the_retried_saga_running(
    engine: Engine,
) -> None:
    created, run_one = declined_run("stu-late")
    assert sagas.start_saga(engine, created) is sagas.Start.CREATED
    for event in run_one:
        tracker.track_once(engine, event)
    assert status_of(engine, "stu-late") == SagaStatus.COMPENSATED

    assert sagas.retry_saga(engine, "stu-late", {"payment_token": "tok_visa"}) == 2
    assert status_of(engine, "stu-late") == SagaStatus.RUNNING

    # The broker redelivers the old run's last event after the retry committed.
    tracker.track_once(engine, run_one[-1])
    assert status_of(engine, "stu-late") == SagaStatus.RUNNING
