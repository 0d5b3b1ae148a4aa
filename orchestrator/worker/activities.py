"""The sagas' activities: thin adapters from workflow contracts to the services' HTTP APIs,
one class per service. An activity's name is its step's (workflows/contracts.py `Step`); the
sagas that use it (workflows/registry.py) set its timeouts and retries through the kit.
"""

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.clients import BillingClient, EnrollmentClient
from sagas import ErrorType
from workflows.contracts import (
    ChargeReceipt,
    ChargeTuitionInput,
    CompensationInput,
    ConfirmEnrollmentInput,
    ReserveSeatInput,
    SeatReservation,
    Step,
)
from workflows.transfer import (
    ReverseSettlementInput,
    SettleDifferenceInput,
    Settlement,
    WithdrawEnrollmentInput,
)


class EnrollmentActivities:
    def __init__(self, enrollment: EnrollmentClient) -> None:
        self._enrollment = enrollment

    @activity.defn(name=Step.RESERVE_SEAT)
    async def reserve_seat(self, request: ReserveSeatInput) -> SeatReservation:
        body = await self._enrollment.reserve_seat(
            request.student_id, request.course_id, request.idempotency_key
        )
        return SeatReservation.model_validate(body)

    @activity.defn(name=Step.CONFIRM_ENROLLMENT)
    async def confirm_enrollment(self, request: ConfirmEnrollmentInput) -> None:
        await self._enrollment.confirm(request.enrollment_id)

    @activity.defn(name=Step.CANCEL_ENROLLMENT)
    async def cancel_enrollment(self, request: CompensationInput) -> None:
        await self._enrollment.cancel_by_idempotency_key(request.idempotency_key)

    @activity.defn(name=Step.WITHDRAW_ENROLLMENT)
    async def withdraw_enrollment(self, request: WithdrawEnrollmentInput) -> None:
        await self._enrollment.withdraw(request.enrollment_id)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.reserve_seat,
            self.confirm_enrollment,
            self.cancel_enrollment,
            self.withdraw_enrollment,
        ]


class BillingActivities:
    def __init__(self, billing: BillingClient) -> None:
        self._billing = billing

    @activity.defn(name=Step.CHARGE_TUITION)
    async def charge_tuition(self, request: ChargeTuitionInput) -> ChargeReceipt:
        charge = await self._billing.charge(**request.model_dump())
        return ChargeReceipt.model_validate(charge)

    @activity.defn(name=Step.REFUND_CHARGE)
    async def refund_charge(self, request: CompensationInput) -> None:
        await self._billing.refund_by_idempotency_key(request.idempotency_key)

    @activity.defn(name=Step.SETTLE_DIFFERENCE)
    async def settle_difference(self, request: SettleDifferenceInput) -> Settlement:
        """Charge a positive difference; refund a negative one from the student's newest
        charge that still holds enough (the same charge on every retry, since nothing else
        refunds this student's charges while their one transfer runs)."""
        if request.amount_cents > 0:
            charge = await self._billing.charge(
                student_id=request.student_id,
                enrollment_id=request.to_enrollment_id,
                amount_cents=request.amount_cents,
                currency=request.currency,
                payment_token=request.payment_token,
                idempotency_key=request.idempotency_key,
            )
            return Settlement(
                movement="charge", amount_cents=request.amount_cents, charge_id=charge["charge_id"]
            )
        amount = -request.amount_cents
        charge_id = await self._refundable_charge(request.student_id, amount, request.currency)
        refund = await self._billing.refund_part(charge_id, amount, request.idempotency_key)
        return Settlement(
            movement="refund",
            amount_cents=amount,
            charge_id=charge_id,
            refund_id=refund["refund_id"],
        )

    @activity.defn(name=Step.REVERSE_SETTLEMENT)
    async def reverse_settlement(self, request: ReverseSettlementInput) -> None:
        if request.amount_cents > 0:
            await self._billing.refund_by_idempotency_key(request.idempotency_key)
        else:
            await self._billing.reverse_refund_by_idempotency_key(request.idempotency_key)

    async def _refundable_charge(self, student_id: str, amount_cents: int, currency: str) -> str:
        charges = await self._billing.charges_of_student(student_id)
        for charge in reversed(charges):  # billing lists them oldest first
            left = charge["amount_cents"] - charge["refunded_cents"]
            if (
                charge["currency"] == currency
                and charge["status"] == "CAPTURED"
                and left >= amount_cents
            ):
                return str(charge["charge_id"])
        raise ApplicationError(
            f"No charge of this student holds {amount_cents} {currency} to refund.",
            type=ErrorType.STEP_REFUSED,
            non_retryable=True,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.charge_tuition,
            self.refund_charge,
            self.settle_difference,
            self.reverse_settlement,
        ]
