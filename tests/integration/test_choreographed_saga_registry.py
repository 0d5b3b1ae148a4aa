"""The API's registry of choreographed sagas, on SQLite and PostgreSQL: one student, one saga
mode (of an orchestrated and a choreographed start racing each other, exactly one claims the
student), and a retried saga that the tracker reads as its new run from the moment the retry
commits, whatever the old run's events do after it."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from choreography import sagas, tracker
from choreography.events import (
    EnrollmentCancelled,
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


def student_created(student_id: str, payment_token: str = "tok_visa") -> StudentCreated:
    return StudentCreated(
        student_id=student_id,
        name="Ada",
        email="ada@example.com",
        course_id="CS101",
        payment_token=payment_token,
    )


def test_the_first_claim_decides_the_mode_and_claims_are_idempotent(engine: Engine) -> None:
    assert sagas.claim_orchestration(engine, "stu-o")
    assert sagas.claim_orchestration(engine, "stu-o")
    assert sagas.start_saga(engine, student_created("stu-o")) is sagas.Start.OTHER_MODE

    assert sagas.start_saga(engine, student_created("stu-c")) is sagas.Start.CREATED
    assert sagas.start_saga(engine, student_created("stu-c")) is sagas.Start.EXISTS
    assert not sagas.claim_orchestration(engine, "stu-c")


def test_a_choreographed_saga_from_before_the_claims_keeps_its_mode(engine: Engine) -> None:
    with Session(engine) as session:  # a registry row and no claim, as such sagas were stored
        session.add(sagas.ChoreographedSaga(student_id="stu-old", course_id="CS101"))
        session.commit()

    assert not sagas.claim_orchestration(engine, "stu-old")
    with Session(engine) as session:
        assert session.get(sagas.SagaModeClaim, "stu-old") is None


def test_racing_starts_in_both_modes_leave_one_mode_per_student(engine: Engine) -> None:
    students = [f"stu-{n}" for n in range(20)]

    def race(student_id: str) -> tuple[bool, sagas.Start]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            orchestrated = pool.submit(sagas.claim_orchestration, engine, student_id)
            choreographed = pool.submit(sagas.start_saga, engine, student_created(student_id))
            return orchestrated.result(), choreographed.result()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(race, students))

    for orchestrated, choreographed in outcomes:
        assert orchestrated != (choreographed is sagas.Start.CREATED)
        assert choreographed is not sagas.Start.EXISTS


def status_of(engine: Engine, student_id: str) -> str:
    state = sagas.saga_state(engine, student_id)
    assert state is not None
    return state.status


def test_a_late_event_of_the_compensated_run_leaves_the_retried_saga_running(
    engine: Engine,
) -> None:
    created = student_created("stu-late", payment_token="tok_declined")
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
    assert sagas.start_saga(engine, created) is sagas.Start.CREATED
    for event in (created, reserved, declined, cancelled):
        tracker.track_once(engine, event)
    assert status_of(engine, "stu-late") == SagaStatus.COMPENSATED

    assert sagas.retry_saga(engine, "stu-late", {"payment_token": "tok_visa"}) == 2
    assert status_of(engine, "stu-late") == SagaStatus.RUNNING

    # The broker redelivers the old run's last event after the retry committed.
    tracker.track_once(engine, cancelled)
    assert status_of(engine, "stu-late") == SagaStatus.RUNNING
