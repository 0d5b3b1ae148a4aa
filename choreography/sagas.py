"""The API's choreography use cases: start a saga by writing StudentCreated to the API's own
outbox, and read a saga's status from the tracker.

One saga per student, as in the orchestrated mode: the registry row and the outbox row commit
together, so a second POST finds the first and publishes nothing. One mode per student too: each
start claims the student's mode in `saga_mode_claim` first (orchestration through
`claim_orchestration`, choreography with its registry row), one transaction at a time per student,
so of two POSTs in different modes exactly one wins, whatever the timing.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, bindparam, exists
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from choreography import outbox, tracker
from choreography.events import FIRST_RUN, StudentCreated, event_id_for, from_json
from common.database import lock_for_transaction
from sagas import SagaStatus
from workflows.contracts import ONBOARDING_SAGA_TYPE, SagaState, Step

ORCHESTRATION = "orchestration"
CHOREOGRAPHY = "choreography"


def _now() -> datetime:
    return datetime.now(UTC)


class ChoreographedSaga(SQLModel, table=True):
    __tablename__ = "choreographed_saga"

    student_id: str = Field(primary_key=True, max_length=100)
    course_id: str = Field(max_length=32)
    started_at: datetime = Field(default_factory=_now)
    run: int = Field(default=FIRST_RUN, sa_column_kwargs={"server_default": "1"})


class SagaModeClaim(SQLModel, table=True):
    """The mode of the student's saga, claimed by the first start: a second start in the other
    mode is refused (409) even while the first is still starting."""

    __tablename__ = "saga_mode_claim"

    student_id: str = Field(primary_key=True, max_length=100)
    mode: str = Field(max_length=16)
    claimed_at: datetime = Field(default_factory=_now)


TABLES = (ChoreographedSaga, SagaModeClaim, *tracker.TABLES)


class Start(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    OTHER_MODE = "other-mode"


# Built once and run with their parameters: every orchestrated start runs them, and building a
# statement per call costs SQLAlchemy more than running it (tuning log, entries 25 and 28).
_claims = SagaModeClaim.__table__.c  # type: ignore[attr-defined]
_registry = ChoreographedSaga.__table__.c  # type: ignore[attr-defined]
_MODE_OF_STUDENT = sa_select(
    sa_select(_claims.mode).where(_claims.student_id == bindparam("student")).scalar_subquery(),
    exists().where(_registry.student_id == bindparam("student")),
)
_INSERT_CLAIM = sa_insert(SagaModeClaim.__table__)  # type: ignore[attr-defined]


def _claimed_mode(bind: Session | Connection, student_id: str) -> str | None:
    """The student's mode, under a per-student lock held until the transaction ends (SQLite's
    `BEGIN IMMEDIATE` serialises every transaction anyway). A choreographed saga from before
    the claims is known by its registry row. One Core statement, no ORM objects."""
    lock_for_transaction(bind, f"saga-mode:{student_id}")
    mode, registered = bind.execute(_MODE_OF_STUDENT, {"student": student_id}).one()
    if mode is not None:
        return str(mode)
    return CHOREOGRAPHY if registered else None


def claim_orchestration(engine: Engine, student_id: str) -> bool:
    """Claim the student for an orchestrated saga (again: idempotent); False if the student's
    saga is choreographed. Call before starting the workflow."""
    try:
        with engine.begin() as connection:
            mode = _claimed_mode(connection, student_id)
            if mode is None:
                claim = {"student_id": student_id, "mode": ORCHESTRATION, "claimed_at": _now()}
                connection.execute(_INSERT_CLAIM, claim)
    except IntegrityError:  # PostgreSQL, a claim that committed meanwhile: read it
        return claim_orchestration(engine, student_id)
    return mode in (None, ORCHESTRATION)


def start_saga(engine: Engine, event: StudentCreated) -> Start:
    """Claim the student for choreography, register the saga and stage its first event."""
    with Session(engine, expire_on_commit=False) as session:
        mode = _claimed_mode(session, event.student_id)
        if mode is not None:
            session.commit()
            return Start.EXISTS if mode == CHOREOGRAPHY else Start.OTHER_MODE
        # Timestamps given: a default_factory costs pydantic a signature inspection per row.
        now = _now()
        session.add(SagaModeClaim(student_id=event.student_id, mode=CHOREOGRAPHY, claimed_at=now))
        session.add(
            ChoreographedSaga(
                student_id=event.student_id, course_id=event.course_id, started_at=now, run=1
            )
        )
        try:
            outbox.stage(session, event)  # flushes the rows above first
            session.commit()
        except IntegrityError:  # PostgreSQL, a concurrent start that won: answer as it did
            session.rollback()
            return start_saga(engine, event)
    return Start.CREATED


class SagaNotRetryable(Exception):
    pass


def retry_saga(
    engine: Engine, student_id: str, changes: Mapping[str, str] | None = None
) -> int | None:
    """Start a new run of a COMPENSATED choreographed saga: the previous run's StudentCreated,
    with `changes` to its fields (workflows.contracts.SagaCorrections, personal data sealed as
    in the event), as run n+1 (new event ids, new idempotency keys). Returns the new run; None
    if the student has no choreographed saga."""
    with Session(engine, expire_on_commit=False) as session:
        lock_for_transaction(session, f"saga-mode:{student_id}")
        registered = session.get(ChoreographedSaga, student_id, with_for_update=True)
        if registered is None:
            session.commit()
            return None
        view = session.get(tracker.SagaView, student_id)
        status = view.status if view is not None else SagaStatus.RUNNING
        if status != SagaStatus.COMPENSATED:
            session.commit()
            raise SagaNotRetryable(
                f"Saga of '{student_id}' is {status}: only a COMPENSATED choreographed saga is "
                "retried (a saga stopped by a dead letter is re-driven instead)."
            )
        first = session.get(
            tracker.TrackedEvent, event_id_for(student_id, "StudentCreated", registered.run)
        )
        assert first is not None, "a COMPENSATED saga's StudentCreated is tracked"
        previous = from_json(first.payload)
        assert isinstance(previous, StudentCreated)
        retried = StudentCreated(
            **previous.model_dump(exclude={"event_id", "occurred_at", "run"}, mode="json")
            | dict(changes or {}),
            run=registered.run + 1,
        )
        registered.run = retried.run
        registered.course_id = retried.course_id
        session.add(registered)
        # The tracker hears of the new run in the transaction that stages it: a late event of
        # the old run (a redelivery) then projects onto run n+1, never back to COMPENSATED.
        tracker.track(session, retried)
        outbox.stage(session, retried)
        session.commit()
    return retried.run


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
        saga_id=student_id,
        saga_type=ONBOARDING_SAGA_TYPE,
        student_id=student_id,
        course_id=registered.course_id,
        current_step=Step.RESERVE_SEAT,
    )
