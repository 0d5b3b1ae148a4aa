"""The tracker tells when an event ends a choreographed saga's run, on SQLite and PostgreSQL:
the last event of the outcome ends it once (never its redelivery, never an event that arrives
after the outcome is whole), with the run's duration; a retried run ends again. Its ends feed
the API's saga metrics and wake the requests waiting with `Prefer: wait`."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from choreography import sagas, tracker
from choreography.events import (
    EnrollmentCancelled,
    EnrollmentConfirmed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    SeatReserved,
    StudentCreated,
)
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from choreography.saga_metrics import SagaOutcomeMetrics
from common.database import create_database_engine, create_tables
from sagas import SagaStatus

STARTED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (*sagas.TABLES, *CHOREOGRAPHY_TABLES))
    yield engine
    engine.dispose()


def completed_saga(student_id: str, run: int = 1) -> list[Event]:
    created = StudentCreated(
        student_id=student_id,
        run=run,
        name="Ada",
        email="ada@example.com",
        course_id="CS101",
        payment_token="tok_visa",
        occurred_at=STARTED,
    )
    reserved = SeatReserved.following(
        created,
        enrollment_id="enr-1",
        course_id="CS101",
        tuition_cents=50_000,
        currency="USD",
        payment_token="tok_visa",
    )
    captured = PaymentCaptured.following(created, charge_id="chg-1", enrollment_id="enr-1")
    confirmed = EnrollmentConfirmed.following(created, enrollment_id="enr-1")
    # Stamped by their publishers as the run went on: 2 s from its start to its end.
    return [
        event.model_copy(update={"occurred_at": STARTED + timedelta(seconds=0.5 * n)})
        for n, event in zip((0, 1, 2, 4), (created, reserved, captured, confirmed), strict=True)
    ]


def test_the_last_event_of_a_completed_saga_ends_it_once_with_its_duration(
    engine: Engine,
) -> None:
    events = completed_saga("stu-done")

    tracked = [tracker.track_once(engine, event) for event in events]
    again = tracker.track_once(engine, events[-1])  # the broker redelivers it

    assert [t.ended for t in tracked] == [False, False, False, True]
    assert tracked[-1].state.status == SagaStatus.COMPLETED
    assert tracked[-1].duration == timedelta(seconds=2)
    assert not again.ended
    assert again.state.status == SagaStatus.COMPLETED


def test_an_end_whose_events_crossed_is_counted_when_the_outcome_is_whole(
    engine: Engine,
) -> None:
    created, reserved, captured, confirmed = completed_saga("stu-crossed")

    # The confirmation overtakes the capture (they travel on different consumers).
    tracked = [tracker.track_once(engine, e) for e in (created, reserved, confirmed, captured)]

    assert [t.ended for t in tracked] == [False, False, False, True]


def test_a_retried_run_ends_again(engine: Engine) -> None:
    created = completed_saga("stu-retried")[0].model_copy(update={"payment_token": "tok_x"})
    assert isinstance(created, StudentCreated)
    declined = PaymentDeclined.following(created, enrollment_id="enr-1", reason="declined")
    cancelled = EnrollmentCancelled.following(created, enrollment_id="enr-1")
    reserved = completed_saga("stu-retried")[1]
    assert sagas.start_saga(engine, created) is sagas.Start.CREATED
    first_run = [tracker.track_once(engine, e) for e in (created, reserved, declined, cancelled)]
    assert sagas.retry_saga(engine, "stu-retried", {"payment_token": "tok_visa"}) == 2

    second_run = [tracker.track_once(engine, e) for e in completed_saga("stu-retried", run=2)]

    assert [t.ended for t in first_run] == [False, False, False, True]
    assert first_run[-1].state.status == SagaStatus.COMPENSATED
    assert [t.ended for t in second_run][-1]
    assert second_run[-1].state.status == SagaStatus.COMPLETED


def test_the_metrics_count_each_end_by_type_outcome_and_failed_step(engine: Engine) -> None:
    registry = CollectorRegistry()
    metrics = SagaOutcomeMetrics(registry)
    for event in completed_saga("stu-metered"):
        tracked = tracker.track_once(engine, event)
        if tracked.ended:
            metrics.record(tracked)

    labels = {"saga_type": "student-onboarding", "outcome": "completed", "failed_step": "none"}
    assert registry.get_sample_value("saga_outcomes_total", labels) == 1
    assert registry.get_sample_value("saga_duration_count", labels) == 1
    assert registry.get_sample_value("saga_duration_sum", labels) == 2000
