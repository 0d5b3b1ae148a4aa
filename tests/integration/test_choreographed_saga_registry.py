"""One student, one saga mode, on SQLite and PostgreSQL: of an orchestrated and a choreographed
start of one student racing each other, exactly one claims the student."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from choreography import sagas
from choreography.events import StudentCreated
from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from common.database import create_database_engine, create_tables


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (*sagas.TABLES, *CHOREOGRAPHY_TABLES))
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


def test_the_first_claim_decides_the_mode_and_claims_are_idempotent(engine: Engine) -> None:
    assert sagas.claim_orchestration(engine, "stu-o")
    assert sagas.claim_orchestration(engine, "stu-o")
    assert sagas.start_saga(engine, student_created("stu-o")) is sagas.Start.OTHER_MODE

    assert sagas.start_saga(engine, student_created("stu-c")) is sagas.Start.CREATED
    assert sagas.start_saga(engine, student_created("stu-c")) is sagas.Start.EXISTS
    assert not sagas.claim_orchestration(engine, "stu-c")


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
