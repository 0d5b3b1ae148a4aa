"""StudentOnboardingSaga: reserve a seat, charge tuition, confirm; on failure, undo in reverse.

Declared on the saga kit (sagas/): the steps below, each with its undo beside it. The kit's
features that came after runs of this saga were recorded are gated by the patch ids in
`PATCHES`, so those runs replay (docs/operations.md, "Changing the workflow safely").
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import email_validator  # noqa: F401  (pydantic's EmailStr imports it lazily)

    from sagas import (
        Patches,
        SagaDefinition,
        Step,
        StepCall,
        StepKind,
        Undo,
    )
    from sagas.runner import SagaRunner
    from workflows.contracts import (
        ONBOARDING_SAGA_TYPE,
        ChargeReceipt,
        ChargeTuitionInput,
        CompensationInput,
        ConfirmEnrollmentInput,
        ReserveSeatInput,
        SagaInput,
        SagaState,
        SeatReservation,
        money,
    )
    from workflows.contracts import Step as Activity
    from workflows.visibility import COURSE_ID, STUDENT_ID

SAGA_TYPE = ONBOARDING_SAGA_TYPE

# Every change to the commands the workflow issues goes behind a patch id, so that histories
# recorded by older code still replay.
RECORD_FAILURE_IN_MEMO = "record-failure-in-memo"
LOCAL_FORWARD_STEPS = "local-forward-steps"
LOCAL_COMPENSATIONS = "local-compensations"
COMPENSATION_FAILED_WAITS = "compensation-failed-waits"
PATCHES = Patches(
    local_steps=LOCAL_FORWARD_STEPS,
    local_undos=LOCAL_COMPENSATIONS,
    failure_memo=RECORD_FAILURE_IN_MEMO,
    compensation_failed_waits=COMPENSATION_FAILED_WAITS,
)

Call = StepCall[SagaInput]


def _undo_by_key(call: Call) -> CompensationInput:
    return CompensationInput(idempotency_key=call.key, student_id=call.saga.event.student_id)


def _reservation(call: Call) -> SeatReservation:
    reservation: SeatReservation = call.result(Activity.RESERVE_SEAT)
    return reservation


def _reserve(call: Call) -> ReserveSeatInput:
    event = call.saga.event
    return ReserveSeatInput(
        idempotency_key=call.key, student_id=event.student_id, course_id=event.course_id
    )


def _charge(call: Call) -> ChargeTuitionInput:
    event, reservation = call.saga.event, _reservation(call)
    return ChargeTuitionInput(
        idempotency_key=call.key,
        student_id=event.student_id,
        enrollment_id=reservation.enrollment_id,
        amount_cents=reservation.tuition_cents,
        currency=reservation.currency,
        payment_token=event.payment_token,
    )


def _tuition(call: Call) -> str:
    reservation = _reservation(call)
    return money(reservation.tuition_cents, reservation.currency)


def _record_enrollment(state: SagaState, reservation: SeatReservation) -> None:
    state.enrollment_id = reservation.enrollment_id


def _record_charge(state: SagaState, receipt: ChargeReceipt) -> None:
    state.charge_id = receipt.charge_id


ONBOARDING = SagaDefinition[SagaInput](
    saga_type=SAGA_TYPE,
    patches=PATCHES,
    steps=(
        Step(
            Activity.RESERVE_SEAT,
            input=_reserve,
            result_type=SeatReservation,
            summary=lambda call: f"reserve a seat in {call.saga.event.course_id}",
            undo=Undo(
                Activity.CANCEL_ENROLLMENT,
                input=_undo_by_key,
                summary=lambda call: f"cancel the seat in {call.saga.event.course_id}",
            ),
            record=_record_enrollment,
        ),
        Step(
            Activity.CHARGE_TUITION,
            input=_charge,
            result_type=ChargeReceipt,
            summary=lambda call: f"charge {_tuition(call)} of tuition",
            undo=Undo(
                Activity.REFUND_CHARGE,
                input=_undo_by_key,
                summary=lambda call: f"refund {_tuition(call)}",
            ),
            record=_record_charge,
        ),
        # The pivot: a confirmed enrollment is the saga's end. Its step deadline stays, since
        # cancelling (the first step's undo) also undoes a confirmation whose answer was lost.
        Step(
            Activity.CONFIRM_ENROLLMENT,
            kind=StepKind.PIVOT,
            input=lambda call: ConfirmEnrollmentInput(
                enrollment_id=_reservation(call).enrollment_id
            ),
            summary=lambda call: f"confirm the enrollment in {call.saga.event.course_id}",
        ),
    ),
)


@workflow.defn
class StudentOnboardingSaga:
    def __init__(self) -> None:
        self._saga = SagaRunner[SagaInput, SagaState](ONBOARDING)

    @workflow.query
    def status(self) -> SagaState:
        return self._saga.progress

    @workflow.update
    def resume_compensation(self) -> SagaState:
        """After a rejected undo (COMPENSATION_FAILED) whose cause is fixed: unwind on."""
        return self._saga.resume_compensation()

    @resume_compensation.validator
    def _resumable(self) -> None:
        self._saga.check_resumable()

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        event = saga.event
        return await self._saga.run(
            saga,
            SagaState(
                saga_id=event.student_id, student_id=event.student_id, course_id=event.course_id
            ),
            saga.deadlines,
            labels=[(STUDENT_ID, event.student_id), (COURSE_ID, event.course_id)],
            log_fields={"student_id": event.student_id},
        )
