"""The saga tracker's projection: a saga's state from the set of its events, whatever order
they arrived in, in the same shape the orchestrated saga reports."""

import itertools

import pytest

from choreography.events import (
    EnrollmentCancelled,
    EnrollmentConfirmationFailed,
    EnrollmentConfirmed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    SeatRejected,
    SeatReserved,
    StudentCreated,
)
from choreography.tracker import project
from sagas import FailureKind, SagaStatus
from workflows.contracts import Step

STUDENT = "stu-7"
created = StudentCreated(
    student_id=STUDENT,
    name="Ada",
    email="ada@example.com",
    course_id="CS101",
    payment_token="tok_visa",
)
reserved = SeatReserved.following(
    created,
    enrollment_id="e-1",
    course_id="CS101",
    tuition_cents=100,
    currency="USD",
    payment_token="tok_visa",
)
captured = PaymentCaptured.following(created, charge_id="c-1", enrollment_id="e-1")
confirmed = EnrollmentConfirmed.following(created, enrollment_id="e-1")
declined = PaymentDeclined.following(created, enrollment_id="e-1", reason="Card declined.")
cancelled = EnrollmentCancelled.following(created, enrollment_id="e-1")
rejected = SeatRejected.following(created, course_id="CS101", reason="Course full.")
confirmation_failed = EnrollmentConfirmationFailed.following(
    created, enrollment_id="e-1", charge_id="c-1", reason="cancelled"
)
refunded = PaymentRefunded.following(created, charge_id="c-1", enrollment_id="e-1")
expired = EnrollmentCancelled.following(
    created, enrollment_id="e-1", expired=True, reason="reservation expired"
)
voided = PaymentVoided.following(created, enrollment_id="e-1")

OUTCOMES = {
    "completed": [created, reserved, captured, confirmed],
    "declined": [created, reserved, declined, cancelled],
    "course full": [created, rejected],
    "confirmation failed": [
        created,
        reserved,
        captured,
        confirmation_failed,
        refunded,
        cancelled,
    ],
    "expired before the charge": [created, reserved, expired, voided],
    "expired, the late capture refunded": [created, reserved, expired, captured, refunded],
}


def test_a_completed_saga_reads_like_the_orchestrated_one() -> None:
    state = project(OUTCOMES["completed"])

    assert state.status == SagaStatus.COMPLETED
    assert state.completed_steps == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.CONFIRM_ENROLLMENT,
    ]
    assert (state.course_id, state.enrollment_id, state.charge_id) == ("CS101", "e-1", "c-1")
    assert state.current_step is None


def test_a_failed_confirmation_is_compensated_refund_first() -> None:
    state = project(OUTCOMES["confirmation failed"])

    assert state.status == SagaStatus.COMPENSATED
    assert state.failed_step == Step.CONFIRM_ENROLLMENT
    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]


def test_a_declined_payment_is_compensating_until_the_seat_is_released() -> None:
    state = project([created, reserved, declined])

    assert state.status == SagaStatus.COMPENSATING
    assert state.current_step == Step.CANCEL_ENROLLMENT
    assert state.failure_reason == "Card declined."
    assert state.failure_kind == FailureKind.REFUSED


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_state_does_not_depend_on_the_order_events_arrived_in(outcome: str) -> None:
    saga_events: list[Event] = OUTCOMES[outcome]
    states = {project(order).model_dump_json() for order in itertools.permutations(saga_events)}

    assert len(states) == 1


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_saga_missing_any_of_its_events_is_not_yet_terminal(outcome: str) -> None:
    saga_events: list[Event] = OUTCOMES[outcome]
    for missing in saga_events:
        partial = [event for event in saga_events if event is not missing]
        state = project(partial)
        assert state.status in (SagaStatus.RUNNING, SagaStatus.COMPENSATING), missing.type


def test_an_expired_reservation_is_compensated_once_billing_kept_no_money() -> None:
    state = project(OUTCOMES["expired before the charge"])

    assert state.status == SagaStatus.COMPENSATED
    assert (state.failed_step, state.failure_reason) == (
        Step.CHARGE_TUITION,
        "reservation expired",
    )
    assert state.failure_kind == FailureKind.DEADLINE  # the expiry is the step's deadline
    assert state.compensated_steps == [Step.CANCEL_ENROLLMENT]


def test_a_capture_that_arrived_after_the_expiry_is_compensating_until_refunded() -> None:
    state = project([created, reserved, expired, voided, captured])

    assert state.status == SagaStatus.COMPENSATING
    assert state.current_step == Step.REFUND_CHARGE


def test_the_refused_confirmation_of_a_late_capture_changes_nothing_once_refunded() -> None:
    late = OUTCOMES["expired, the late capture refunded"]

    with_refusal = project([*late, confirmation_failed])

    assert with_refusal == project(late)
    assert with_refusal.status == SagaStatus.COMPENSATED
    assert with_refusal.failed_step == Step.CONFIRM_ENROLLMENT
    assert with_refusal.compensated_steps == [Step.CANCEL_ENROLLMENT, Step.REFUND_CHARGE]
