"""The saga's activities: thin adapters from workflow contracts to the services' HTTP APIs.

Timeouts are set by the workflow (workflows/saga.py): 15 s start-to-close per attempt (above the
10 s HTTP timeout, so a hung call fails as an HTTP timeout first), and a step deadline
(schedule-to-close, 120 s by default) after which the saga compensates. Compensations have no
deadline and no attempt cap.
"""

from collections.abc import Callable
from typing import Any

from temporalio import activity

from orchestrator.clients import BillingClient, EnrollmentClient
from workflows.contracts import (
    ChargeReceipt,
    ChargeTuitionInput,
    CompensationInput,
    ConfirmEnrollmentInput,
    ReserveSeatInput,
    SeatReservation,
    Step,
)


class SagaActivities:
    def __init__(self, enrollment: EnrollmentClient, billing: BillingClient) -> None:
        self._enrollment = enrollment
        self._billing = billing

    @activity.defn(name=Step.RESERVE_SEAT)
    async def reserve_seat(self, request: ReserveSeatInput) -> SeatReservation:
        body = await self._enrollment.reserve_seat(
            request.student_id, request.course_id, request.idempotency_key
        )
        return SeatReservation.model_validate(body)

    @activity.defn(name=Step.CHARGE_TUITION)
    async def charge_tuition(self, request: ChargeTuitionInput) -> ChargeReceipt:
        body = await self._billing.charge(
            request.model_dump(exclude={"idempotency_key"}), request.idempotency_key
        )
        return ChargeReceipt.model_validate(body)

    @activity.defn(name=Step.CONFIRM_ENROLLMENT)
    async def confirm_enrollment(self, request: ConfirmEnrollmentInput) -> None:
        await self._enrollment.confirm(request.enrollment_id)

    @activity.defn(name=Step.CANCEL_ENROLLMENT)
    async def cancel_enrollment(self, request: CompensationInput) -> None:
        await self._enrollment.cancel_by_idempotency_key(request.idempotency_key)

    @activity.defn(name=Step.REFUND_CHARGE)
    async def refund_charge(self, request: CompensationInput) -> None:
        await self._billing.refund_by_idempotency_key(request.idempotency_key)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.reserve_seat,
            self.charge_tuition,
            self.confirm_enrollment,
            self.cancel_enrollment,
            self.refund_charge,
        ]
