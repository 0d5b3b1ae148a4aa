"""The saga tracker: a projection that consumes every event and answers "where is student X?".

Temporal answers that for the orchestrated saga from the workflow's own state; in choreography no
one holds the saga's state, so it is rebuilt from the events. The tracker keeps each event
(deduplicated by id) and derives the saga's state from the *set* of events seen for the student,
not from their arrival order: events of one saga come from different services' relays, and
nothing orders them across publishers. The same derivation over the retained stream rebuilds
the tracker from scratch (`python -m choreography rebuild-tracker`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from choreography import events as ev
from choreography.events import Event, from_json, to_json
from common.database import insert_unless_present
from sagas import TERMINAL_STATUSES, FailureKind, SagaFailure, SagaStatus
from workflows.contracts import ONBOARDING_SAGA_TYPE, SagaState, Step


def _now() -> datetime:
    return datetime.now(UTC)


class TrackedEvent(SQLModel, table=True):
    __tablename__ = "tracked_event"

    event_id: str = Field(primary_key=True, max_length=36)
    student_id: str = Field(index=True, max_length=100)
    event_type: str = Field(max_length=64)
    payload: str


class SagaView(SQLModel, table=True):
    __tablename__ = "saga_view"

    student_id: str = Field(primary_key=True, max_length=100)
    status: str = Field(index=True, max_length=16)
    state: str
    updated_at: datetime = Field(default_factory=_now)


TABLES = (TrackedEvent, SagaView)

# Every event a saga ends with, by the step that failed (None: it completed).
OUTCOME_CHAINS: dict[Step | None, frozenset[str]] = {
    None: frozenset({"StudentCreated", "SeatReserved", "PaymentCaptured", "EnrollmentConfirmed"}),
    Step.RESERVE_SEAT: frozenset({"StudentCreated", "SeatRejected"}),
    Step.CHARGE_TUITION: frozenset(
        {"StudentCreated", "SeatReserved", "PaymentDeclined", "EnrollmentCancelled"}
    ),
    Step.CONFIRM_ENROLLMENT: frozenset(
        {
            "StudentCreated",
            "SeatReserved",
            "PaymentCaptured",
            "EnrollmentConfirmationFailed",
            "PaymentRefunded",
            "EnrollmentCancelled",
        }
    ),
}


def track(session: Session, event: Event) -> Sequence[Event]:
    """Record the event and refresh its saga's view; emits nothing (a Reaction, for a replay
    through choreography.inbox.handle_once)."""
    record_event(session.connection(), event)
    return []


@dataclass(frozen=True)
class Tracked:
    """What recording one event did to its saga: its state after it, and whether this event
    ended the saga's run (the first to make it terminal; a redelivery never does)."""

    state: SagaState
    ended: bool = False
    duration: timedelta | None = None  # from the run's StudentCreated to its end, if it ended


def record_event(connection: Connection, event: Event) -> Tracked:
    """The tracker's work on one event: three Core statements on a connection, no session nor
    ORM objects; it runs for every event of every saga. A duplicate (the same event id) is not
    recorded again, and the view it refreshes is the same."""
    record = {
        "event_id": event.event_id,
        "student_id": event.student_id,
        "event_type": event.type,
        "payload": to_json(event).decode(),
    }
    recorded = insert_unless_present(connection, TrackedEvent, record, "event_id")
    payloads = connection.execute(
        select(col(TrackedEvent.payload)).where(col(TrackedEvent.student_id) == event.student_id)
    ).scalars()
    saga_events = [from_json(payload) for payload in payloads]
    state = project(saga_events)
    view = {
        "student_id": event.student_id,
        "status": state.status,
        "state": state.model_dump_json(),
        "updated_at": _now(),
    }
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    upsert = insert(SagaView.__table__).values(**view)  # type: ignore[attr-defined]
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=["student_id"],
            set_={name: upsert.excluded[name] for name in ("status", "state", "updated_at")},
        )
    )
    if not recorded or state.status not in TERMINAL_STATUSES:
        return Tracked(state)
    before = [other for other in saga_events if other.event_id != event.event_id]
    if before and project(before).status in TERMINAL_STATUSES:
        return Tracked(state)  # ended already (a late event of an outcome already whole)
    return Tracked(state, ended=True, duration=_run_duration(saga_events))


def _run_duration(saga_events: Sequence[Event]) -> timedelta | None:
    """From the latest run's StudentCreated to its last event (both stamped by their
    publishers: the API and the services share a clock only as well as their hosts do)."""
    latest = max(event.run for event in saga_events)
    run = [event for event in saga_events if event.run == latest]
    created = [event for event in run if isinstance(event, ev.StudentCreated)]
    if not created:
        return None
    return max(event.occurred_at for event in run) - created[0].occurred_at


def track_once(engine: Engine, event: Event) -> Tracked:
    """The live tracker's consumer: record the event in one transaction. Its own table is its
    inbox (an event id is recorded once), so it needs neither choreography.inbox nor a session."""
    with engine.connect() as connection, connection.begin():
        return record_event(connection, event)


def saga_view(session: Session, student_id: str) -> SagaState | None:
    view = session.get(SagaView, student_id)
    session.commit()
    return None if view is None else SagaState.model_validate_json(view.state)


def all_views(engine: Engine) -> dict[str, SagaState]:
    with Session(engine, expire_on_commit=False) as session:
        views = session.exec(select(SagaView)).all()
        return {view.student_id: SagaState.model_validate_json(view.state) for view in views}


def clear(engine: Engine) -> None:
    """Drop what the tracker knows (its inbox included), before a rebuild. The tables must
    exist: the database is migrated like the API's own (`prepare_database` with API_SCHEMA)."""
    from choreography.inbox import ProcessedEvent

    with Session(engine, expire_on_commit=False) as session:
        for table in (TrackedEvent, SagaView, ProcessedEvent):
            session.execute(delete(table))
        session.commit()


def project(saga_events: Iterable[Event]) -> SagaState:
    """The saga's state from the set of its events, in the shape the orchestrated saga reports:
    its latest run's (a retry is a new run, see choreography.sagas.retry_saga)."""
    saga_events = list(saga_events)
    latest = max(event.run for event in saga_events)
    by_type = {event.type: event for event in saga_events if event.run == latest}
    any_event = next(iter(by_type.values()))
    course_ids = [
        event.course_id
        for event in by_type.values()
        if isinstance(event, ev.StudentCreated | ev.SeatReserved | ev.SeatRejected)
    ]
    state = SagaState(
        saga_id=any_event.student_id,  # an onboarding saga's id is its student's, in both styles
        saga_type=ONBOARDING_SAGA_TYPE,
        student_id=any_event.student_id,
        course_id=course_ids[0] if course_ids else "",
    )
    state.current_step = Step.RESERVE_SEAT
    _forward(state, by_type)
    _backward(state, by_type)
    if state.status in TERMINAL_STATUSES and not _chain_complete(state, by_type):
        # The last event overtook an earlier one (they travel on different consumers): not
        # terminal until every event of the outcome is in, so a terminal answer is whole.
        state.status = SagaStatus.COMPENSATING if state.failed_step else SagaStatus.RUNNING
    return state


# A saga whose reservation expired: its EnrollmentCancelled (expired) and billing's answer to it
# (PaymentVoided, or PaymentRefunded if money was captured), whatever the saga got to before.
EXPIRED_CHAIN = frozenset({"StudentCreated", "SeatReserved", "EnrollmentCancelled"})


def _chain_complete(state: SagaState, by_type: dict[str, Event]) -> bool:
    if _expiry(by_type) is not None:
        return by_type.keys() >= EXPIRED_CHAIN
    failed_step = Step(state.failed_step) if state.failed_step else None
    return OUTCOME_CHAINS[failed_step] <= by_type.keys()


def _expiry(by_type: dict[str, Event]) -> ev.EnrollmentCancelled | None:
    cancelled = by_type.get("EnrollmentCancelled")
    if isinstance(cancelled, ev.EnrollmentCancelled) and cancelled.expired:
        return cancelled
    return None


def _forward(state: SagaState, by_type: dict[str, Event]) -> None:
    if isinstance(reserved := by_type.get("SeatReserved"), ev.SeatReserved):
        state.completed_steps.append(Step.RESERVE_SEAT)
        state.enrollment_id = reserved.enrollment_id
        state.current_step = Step.CHARGE_TUITION
    if isinstance(captured := by_type.get("PaymentCaptured"), ev.PaymentCaptured):
        state.completed_steps.append(Step.CHARGE_TUITION)
        state.charge_id = captured.charge_id
        state.current_step = Step.CONFIRM_ENROLLMENT
    if "EnrollmentConfirmed" in by_type:
        state.completed_steps.append(Step.CONFIRM_ENROLLMENT)
        state.current_step = None
        state.status = SagaStatus.COMPLETED


def _backward(state: SagaState, by_type: dict[str, Event]) -> None:
    """Failures and compensations, in the order the orchestrated saga runs them."""
    if (expired := _expiry(by_type)) is not None:
        _expired(state, expired, by_type)
        return
    rejected = by_type.get("SeatRejected")
    declined = by_type.get("PaymentDeclined")
    confirmation_failed = by_type.get("EnrollmentConfirmationFailed")
    if isinstance(rejected, ev.SeatRejected):
        _failed(state, Step.RESERVE_SEAT, rejected.reason, next_step=None)
    elif isinstance(declined, ev.PaymentDeclined):
        _failed(state, Step.CHARGE_TUITION, declined.reason, next_step=Step.CANCEL_ENROLLMENT)
    elif isinstance(confirmation_failed, ev.EnrollmentConfirmationFailed):
        _failed(
            state,
            Step.CONFIRM_ENROLLMENT,
            confirmation_failed.reason,
            next_step=Step.REFUND_CHARGE,
        )
        if "PaymentRefunded" in by_type:
            state.compensated_steps.append(Step.REFUND_CHARGE)
            state.current_step = Step.CANCEL_ENROLLMENT
    else:
        return
    if "EnrollmentCancelled" in by_type:
        state.compensated_steps.append(Step.CANCEL_ENROLLMENT)
        state.current_step = None
        state.status = SagaStatus.COMPENSATED


def _expired(
    state: SagaState, cancelled: ev.EnrollmentCancelled, by_type: dict[str, Event]
) -> None:
    """The reservation ran out before the saga confirmed it: the step it waited on failed (the
    charge, or the confirmation of a capture), the seat was released first, and the saga is
    compensated once billing has answered the cancellation with no money kept."""
    captured = "PaymentCaptured" in by_type
    refunded = "PaymentRefunded" in by_type
    state.failed_step = Step.CONFIRM_ENROLLMENT if captured else Step.CHARGE_TUITION
    state.failure_reason = cancelled.reason
    # The reservation's expiry is the choreography's step deadline (docs/orchestration-vs-
    # choreography.md): the same failure kind as an orchestrated step past its deadline.
    state.failure = SagaFailure(
        kind=FailureKind.DEADLINE, step=state.failed_step, reason=cancelled.reason
    )
    state.compensated_steps.append(Step.CANCEL_ENROLLMENT)
    if refunded:
        state.compensated_steps.append(Step.REFUND_CHARGE)
    # Billing's answer, and the capture it refunded: a terminal answer never changes after.
    if (captured and refunded) or (not captured and "PaymentVoided" in by_type):
        state.current_step = None
        state.status = SagaStatus.COMPENSATED
    else:
        state.current_step = Step.REFUND_CHARGE
        state.status = SagaStatus.COMPENSATING


def _failed(state: SagaState, step: Step, reason: str, next_step: Step | None) -> None:
    """A service refused the step (a rejected seat, a declined card, a refused confirmation)."""
    state.failed_step = step
    state.failure_reason = reason
    state.failure = SagaFailure(kind=FailureKind.REFUSED, step=step, reason=reason)
    state.current_step = next_step
    state.status = SagaStatus.COMPENSATING if next_step is not None else SagaStatus.COMPENSATED
