"""The API's choreography use cases: start a saga by writing StudentCreated to the API's own
outbox, and read a saga's status from the tracker.

One saga per student, as in the orchestrated mode: the registry row and the outbox row commit
together, so a second POST finds the first and publishes nothing.
"""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from choreography import outbox, tracker
from choreography.events import StudentCreated
from workflows.contracts import SagaState, Step


def _now() -> datetime:
    return datetime.now(UTC)


class ChoreographedSaga(SQLModel, table=True):
    __tablename__ = "choreographed_saga"

    student_id: str = Field(primary_key=True, max_length=100)
    course_id: str = Field(max_length=32)
    started_at: datetime = Field(default_factory=_now)


TABLES = (ChoreographedSaga, *tracker.TABLES)


def start_saga(engine: Engine, event: StudentCreated) -> bool:
    """Register the saga and stage its first event; False if the student already has one."""
    with Session(engine, expire_on_commit=False) as session:
        if session.get(ChoreographedSaga, event.student_id) is not None:
            session.commit()
            return False
        session.add(ChoreographedSaga(student_id=event.student_id, course_id=event.course_id))
        outbox.stage(session, event)
        try:
            session.commit()
        except IntegrityError:  # a concurrent POST of the same student won
            session.rollback()
            return False
    return True


def is_registered(engine: Engine, student_id: str) -> bool:
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(ChoreographedSaga, student_id) is not None
        session.commit()
    return found


def saga_state(engine: Engine, student_id: str) -> SagaState | None:
    """The tracker's view; a registered saga the tracker has not heard of yet is RUNNING at its
    first step. None if this student has no choreographed saga."""
    with Session(engine, expire_on_commit=False) as session:
        state = tracker.saga_view(session, student_id)
        if state is not None:
            return state
        registered = session.get(ChoreographedSaga, student_id)
        session.commit()
    if registered is None:
        return None
    return SagaState(
        student_id=student_id, course_id=registered.course_id, current_step=Step.RESERVE_SEAT
    )
