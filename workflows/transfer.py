"""CourseTransferSaga: move a student with a confirmed enrollment to another course.

1. reserve a seat in the new course (compensatable: cancel it);
2. settle the price difference, only when the prices differ: charge the difference when the
   new course costs more, refund it (a partial refund) when it costs less (compensatable: the
   reverse movement);
3. withdraw from the old course, releasing its seat (the pivot: once released the seat may be
   taken by someone else, so nothing before it is undone after it);
4. confirm the new enrollment (retriable: retried until it succeeds).

A saga type is this one file: its contracts, its declaration and its workflow class.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from temporalio import workflow

from common.ids import ID_PATTERN, CourseId, PaymentToken, StudentId

with workflow.unsafe.imports_passed_through():
    from sagas import (
        SagaDeadlines,
        SagaDefinition,
        SagaProgress,
        Step,
        StepCall,
        StepKind,
        StepPolicy,
        Undo,
    )
    from sagas.runner import SagaRunner
    from workflows.contracts import (
        CompensationInput,
        ConfirmEnrollmentInput,
        ReserveSeatInput,
        SeatReservation,
        money,
    )
    from workflows.contracts import Step as Activity
    from workflows.visibility import COURSE_ID, STUDENT_ID

SAGA_TYPE = "course-transfer"
WORKFLOW_ID_PREFIX = "course-transfer-"


class CourseTransfer(BaseModel):
    """What a transfer asks for (POST /transfers)."""

    student_id: StudentId
    # Both become parts of the transfer's idempotency keys: the id alphabet, not only the bounds.
    from_course_id: Annotated[CourseId, Field(pattern=ID_PATTERN)]
    to_course_id: Annotated[CourseId, Field(pattern=ID_PATTERN)]
    payment_token: PaymentToken


class TransferInput(BaseModel):
    transfer: CourseTransfer
    # The CONFIRMED enrollment being left, as the API found it when the transfer started.
    from_enrollment_id: str
    from_tuition_cents: int
    currency: str
    deadlines: SagaDeadlines = SagaDeadlines()


class TransferState(SagaProgress):
    student_id: str
    from_course_id: str
    to_course_id: str
    from_enrollment_id: str
    to_enrollment_id: str | None = None
    price_difference_cents: int | None = None  # > 0 charged, < 0 refunded


class SettleDifferenceInput(BaseModel):
    idempotency_key: str
    student_id: str
    from_enrollment_id: str
    to_enrollment_id: str
    amount_cents: int  # > 0: charge it; < 0: refund it from the student's charges
    currency: str
    payment_token: str


class Settlement(BaseModel):
    movement: Literal["charge", "refund"]
    amount_cents: int
    charge_id: str
    refund_id: str | None = None


class ReverseSettlementInput(BaseModel):
    """Found by the settlement's idempotency key, like every undo (so it works when the
    settlement's answer was lost), and told which movement to reverse."""

    idempotency_key: str
    student_id: str
    amount_cents: int


class WithdrawEnrollmentInput(BaseModel):
    enrollment_id: str


Call = StepCall[TransferInput]


def _reservation(call: Call) -> SeatReservation:
    reservation: SeatReservation = call.result(Activity.RESERVE_SEAT)
    return reservation


def _difference(call: Call) -> int:
    return _reservation(call).tuition_cents - call.saga.from_tuition_cents


def _reserve(call: Call) -> ReserveSeatInput:
    transfer = call.saga.transfer
    return ReserveSeatInput(
        idempotency_key=call.key, student_id=transfer.student_id, course_id=transfer.to_course_id
    )


def _cancel(call: Call) -> CompensationInput:
    return CompensationInput(idempotency_key=call.key, student_id=call.saga.transfer.student_id)


def _settle(call: Call) -> SettleDifferenceInput:
    transfer = call.saga.transfer
    return SettleDifferenceInput(
        idempotency_key=call.key,
        student_id=transfer.student_id,
        from_enrollment_id=call.saga.from_enrollment_id,
        to_enrollment_id=_reservation(call).enrollment_id,
        amount_cents=_difference(call),
        currency=call.saga.currency,
        payment_token=transfer.payment_token,
    )


def _reverse(call: Call) -> ReverseSettlementInput:
    return ReverseSettlementInput(
        idempotency_key=call.key,
        student_id=call.saga.transfer.student_id,
        amount_cents=_difference(call),
    )


def _movement(call: Call, charge: str, refund: str) -> str:
    difference = _difference(call)
    if difference == 0:
        return "no price difference to settle"
    return f"{charge if difference > 0 else refund} {money(difference, call.saga.currency)}"


def _record_reservation(state: TransferState, reservation: SeatReservation) -> None:
    state.to_enrollment_id = reservation.enrollment_id


def _record_settlement(state: TransferState, settlement: Settlement) -> None:
    sign = 1 if settlement.movement == "charge" else -1
    state.price_difference_cents = sign * settlement.amount_cents


TRANSFER = SagaDefinition[TransferInput](
    saga_type=SAGA_TYPE,
    steps=(
        Step(
            Activity.RESERVE_SEAT,
            input=_reserve,
            result_type=SeatReservation,
            summary=lambda call: f"reserve a seat in {call.saga.transfer.to_course_id}",
            undo=Undo(
                Activity.CANCEL_ENROLLMENT,
                input=_cancel,
                summary=lambda call: f"cancel the seat in {call.saga.transfer.to_course_id}",
            ),
            record=_record_reservation,
        ),
        Step(
            Activity.SETTLE_DIFFERENCE,
            when=lambda call: _difference(call) != 0,
            input=_settle,
            result_type=Settlement,
            summary=lambda call: _movement(call, "charge", "refund"),
            undo=Undo(
                Activity.REVERSE_SETTLEMENT,
                input=_reverse,
                summary=lambda call: _movement(call, "refund", "charge back"),
            ),
            record=_record_settlement,
        ),
        # The pivot runs to a definitive answer: a withdrawal whose answer was lost may have
        # released the seat, and no undo could take it back, so it has no step deadline.
        Step(
            Activity.WITHDRAW_ENROLLMENT,
            kind=StepKind.PIVOT,
            input=lambda call: WithdrawEnrollmentInput(enrollment_id=call.saga.from_enrollment_id),
            summary=lambda call: f"withdraw from {call.saga.transfer.from_course_id}",
            policy=StepPolicy(step_seconds=365 * 24 * 3600),
        ),
        Step(
            Activity.CONFIRM_ENROLLMENT,
            kind=StepKind.RETRIABLE,
            input=lambda call: ConfirmEnrollmentInput(
                enrollment_id=_reservation(call).enrollment_id
            ),
            summary=lambda call: f"confirm the enrollment in {call.saga.transfer.to_course_id}",
        ),
    ),
)


@workflow.defn
class CourseTransferSaga:
    def __init__(self) -> None:
        self._saga = SagaRunner[TransferInput, TransferState](TRANSFER)

    @workflow.query
    def status(self) -> TransferState:
        return self._saga.progress

    @workflow.update
    def resume_compensation(self) -> TransferState:
        """After a rejected undo (COMPENSATION_FAILED) whose cause is fixed: unwind on."""
        return self._saga.resume_compensation()

    @resume_compensation.validator
    def _resumable(self) -> None:
        self._saga.check_resumable()

    @workflow.run
    async def run(self, saga: TransferInput) -> TransferState:
        transfer = saga.transfer
        state = TransferState(
            saga_id=saga_id_for(transfer.student_id),
            student_id=transfer.student_id,
            from_course_id=transfer.from_course_id,
            to_course_id=transfer.to_course_id,
            from_enrollment_id=saga.from_enrollment_id,
        )
        return await self._saga.run(
            saga,
            state,
            saga.deadlines,
            labels=[(STUDENT_ID, transfer.student_id), (COURSE_ID, transfer.to_course_id)],
            log_fields={"student_id": transfer.student_id},
        )


# A student has one transfer at a time: its workflow id is the student's, reused by the next
# transfer once this one closed. Its saga id says so with a `~`, which no student id holds.
SAGA_ID_PREFIX = "transfer~"


def saga_id_for(student_id: str) -> str:
    return f"{SAGA_ID_PREFIX}{student_id}"
