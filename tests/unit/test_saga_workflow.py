"""The saga workflow against mocked activities, on the time-skipping test server."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.history_steps import StepTry, step_tries
from sagas import ErrorType, FailureKind, SagaDeadlines, SagaStatus
from tests.support.temporal import student, unique_task_queue
from workflows.contracts import (
    ChargeReceipt,
    ChargeTuitionInput,
    CompensationInput,
    ConfirmEnrollmentInput,
    ReserveSeatInput,
    SagaInput,
    SagaState,
    SeatReservation,
    Step,
)
from workflows.onboarding import StudentOnboardingSaga

FAST = SagaDeadlines(
    step_seconds=30, attempt_seconds=5, max_retry_interval_seconds=2, local_attempt_seconds=1
)


class MockServices:
    """Mock activities: record each call; refuse, fail transiently or find a request malformed
    where told to."""

    def __init__(
        self,
        refuse: Step | None = None,
        transient_failures: dict[Step, int] | None = None,
        block: Step | None = None,
        slow_first_attempt: dict[Step, float] | None = None,
        malformed: Step | None = None,
    ) -> None:
        self.calls: list[Step] = []
        self.attempts: Counter[Step] = Counter()
        self.keys: dict[Step, str] = {}
        self._refuse = refuse
        self._transient_failures = transient_failures or {}
        self._block = block
        self._slow_first_attempt = slow_first_attempt or {}
        self._malformed = malformed
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()

    def fix(self, step: Step) -> None:
        """The operator fixed what made the service reject this step's requests."""
        if self._malformed == step:
            self._malformed = None

    async def _perform(self, step: Step, key: str | None = None) -> None:
        self.attempts[step] += 1
        if key is not None:
            self.keys[step] = key
        if self.attempts[step] == 1 and step in self._slow_first_attempt:
            await asyncio.sleep(self._slow_first_attempt[step])
        if self.attempts[step] <= self._transient_failures.get(step, 0):
            raise ApplicationError("503 from the service", type=ErrorType.TRANSIENT_FAULT)
        if step == self._block:
            self.blocked.set()
            await self.release.wait()
        if step == self._malformed:
            raise ApplicationError(
                "400 malformed", type=ErrorType.CONTRACT_VIOLATION, non_retryable=True
            )
        if step == self._refuse:
            raise ApplicationError(
                f"{step} refused", type=ErrorType.STEP_REFUSED, non_retryable=True
            )
        self.calls.append(step)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=Step.RESERVE_SEAT)
        async def reserve_seat(request: ReserveSeatInput) -> SeatReservation:
            await self._perform(Step.RESERVE_SEAT, request.idempotency_key)
            return SeatReservation(enrollment_id="enr-1", tuition_cents=120_000, currency="USD")

        @activity.defn(name=Step.CHARGE_TUITION)
        async def charge_tuition(request: ChargeTuitionInput) -> ChargeReceipt:
            await self._perform(Step.CHARGE_TUITION, request.idempotency_key)
            return ChargeReceipt(charge_id="chg-1")

        @activity.defn(name=Step.CONFIRM_ENROLLMENT)
        async def confirm_enrollment(request: ConfirmEnrollmentInput) -> None:
            await self._perform(Step.CONFIRM_ENROLLMENT)

        @activity.defn(name=Step.CANCEL_ENROLLMENT)
        async def cancel_enrollment(request: CompensationInput) -> None:
            await self._perform(Step.CANCEL_ENROLLMENT, request.idempotency_key)

        @activity.defn(name=Step.REFUND_CHARGE)
        async def refund_charge(request: CompensationInput) -> None:
            await self._perform(Step.REFUND_CHARGE, request.idempotency_key)

        return [reserve_seat, charge_tuition, confirm_enrollment, cancel_enrollment, refund_charge]


@asynccontextmanager
async def onboarding_saga(
    env: WorkflowEnvironment, services: MockServices, deadlines: SagaDeadlines = FAST
) -> AsyncIterator[WorkflowHandle[Any, SagaState]]:
    """A worker with the mock activities, and a student's saga started on it."""
    task_queue = unique_task_queue()
    event = student()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[StudentOnboardingSaga],
        activities=services.activities(),
    ):
        yield await env.client.start_workflow(
            StudentOnboardingSaga.run,
            SagaInput(event=event, deadlines=deadlines),
            id=f"student-onboarding-{event.student_id}",
            task_queue=task_queue,
        )


async def run_saga(
    env: WorkflowEnvironment, services: MockServices, deadlines: SagaDeadlines = FAST
) -> SagaState:
    state, _ = await run_recorded_saga(env, services, deadlines)
    return state


async def run_recorded_saga(
    env: WorkflowEnvironment, services: MockServices, deadlines: SagaDeadlines = FAST
) -> tuple[SagaState, list[StepTry]]:
    """The saga's end state, and the tries of steps its history records."""
    async with onboarding_saga(env, services, deadlines) as handle:
        state = await handle.result()
    return state, step_tries((await handle.fetch_history()).events)


async def wait_for_status(
    handle: WorkflowHandle[Any, SagaState], status: SagaStatus, timeout: float = 30
) -> SagaState:
    async with asyncio.timeout(timeout):
        while True:
            state = await handle.query(StudentOnboardingSaga.status)
            if state.status is status:
                return state
            await asyncio.sleep(0.05)


def tries(recorded: list[StepTry]) -> list[tuple[str, str]]:
    return [(attempt.step, "local" if attempt.local else "regular") for attempt in recorded]


async def test_happy_path_reserves_charges_and_confirms(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices()
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPLETED
    assert services.calls == [Step.RESERVE_SEAT, Step.CHARGE_TUITION, Step.CONFIRM_ENROLLMENT]
    assert state.completed_steps == services.calls
    assert (state.enrollment_id, state.charge_id) == ("enr-1", "chg-1")
    assert state.compensated_steps == []


async def test_steps_whose_services_answer_at_once_run_as_local_activities(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    state, recorded = await run_recorded_saga(time_skipping_env, MockServices())

    assert state.status is SagaStatus.COMPLETED
    assert tries(recorded) == [
        (Step.RESERVE_SEAT, "local"),
        (Step.CHARGE_TUITION, "local"),
        (Step.CONFIRM_ENROLLMENT, "local"),
    ]


async def test_a_step_whose_local_try_fails_goes_on_as_a_regular_activity(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(transient_failures={Step.CHARGE_TUITION: 2})

    state, recorded = await run_recorded_saga(time_skipping_env, services)

    assert state.status is SagaStatus.COMPLETED
    assert services.attempts[Step.CHARGE_TUITION] == 3  # 1 local, then 2 regular attempts
    assert tries(recorded) == [
        (Step.RESERVE_SEAT, "local"),
        (Step.CHARGE_TUITION, "local"),
        (Step.CHARGE_TUITION, "regular"),
        (Step.CONFIRM_ENROLLMENT, "local"),
    ]


async def test_a_local_try_slower_than_its_limit_is_handed_to_a_regular_activity(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(slow_first_attempt={Step.RESERVE_SEAT: 3})

    state, recorded = await run_recorded_saga(time_skipping_env, services)

    assert state.status is SagaStatus.COMPLETED
    assert services.attempts[Step.RESERVE_SEAT] == 2
    assert tries(recorded)[:2] == [(Step.RESERVE_SEAT, "local"), (Step.RESERVE_SEAT, "regular")]


async def test_a_refusal_on_the_local_try_is_final(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(refuse=Step.CHARGE_TUITION)

    state, recorded = await run_recorded_saga(time_skipping_env, services)

    assert state.failure_reason == "charge_tuition refused"
    assert services.attempts[Step.CHARGE_TUITION] == 1
    assert tries(recorded) == [
        (Step.RESERVE_SEAT, "local"),
        (Step.CHARGE_TUITION, "local"),
        (Step.CANCEL_ENROLLMENT, "local"),
    ]


async def test_a_compensation_whose_local_try_fails_goes_on_as_a_regular_activity(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(
        refuse=Step.CONFIRM_ENROLLMENT, transient_failures={Step.REFUND_CHARGE: 2}
    )

    state, recorded = await run_recorded_saga(time_skipping_env, services)

    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]
    assert services.attempts[Step.REFUND_CHARGE] == 3  # 1 local, then 2 regular attempts
    assert tries(recorded)[3:] == [
        (Step.REFUND_CHARGE, "local"),
        (Step.REFUND_CHARGE, "regular"),
        (Step.CANCEL_ENROLLMENT, "local"),
    ]


async def test_a_compensation_the_service_cannot_accept_waits_for_an_operator_to_resume_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """On its local try as on a regular activity: the request is malformed and asking again
    would not help, so the saga waits, open, as COMPENSATION_FAILED; once the cause is fixed
    the `resume_compensation` update unwinds on from the rejected undo."""
    services = MockServices(refuse=Step.CHARGE_TUITION, malformed=Step.CANCEL_ENROLLMENT)
    async with onboarding_saga(time_skipping_env, services) as handle:
        waiting = await wait_for_status(handle, SagaStatus.COMPENSATION_FAILED)
        services.fix(Step.CANCEL_ENROLLMENT)
        await handle.execute_update(StudentOnboardingSaga.resume_compensation)
        state = await handle.result()

    assert waiting.current_step == Step.CANCEL_ENROLLMENT
    assert waiting.undo_failure is not None
    assert waiting.undo_failure.kind is FailureKind.COMPENSATION_FAILED
    assert waiting.undo_failure.reason == "400 malformed"
    assert waiting.failure is not None and waiting.failure.kind is FailureKind.REFUSED
    assert services.attempts[Step.CANCEL_ENROLLMENT] == 2  # the rejected one, then the resumed
    assert state.status is SagaStatus.COMPENSATED
    assert state.compensated_steps == [Step.CANCEL_ENROLLMENT]


async def test_resuming_a_saga_that_has_no_failed_undo_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(block=Step.CHARGE_TUITION)
    async with onboarding_saga(time_skipping_env, services) as handle:
        await asyncio.wait_for(services.blocked.wait(), timeout=30)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(StudentOnboardingSaga.resume_compensation)
        services.release.set()
        state = await handle.result()

    assert "no failed undo to resume" in str(refused.value.cause)
    assert state.status is SagaStatus.COMPLETED


async def test_full_course_has_nothing_to_compensate(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(refuse=Step.RESERVE_SEAT)
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPENSATED
    assert state.failed_step == Step.RESERVE_SEAT
    assert services.calls == []
    assert state.compensated_steps == []


async def test_declined_card_cancels_the_seat_and_refunds_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(refuse=Step.CHARGE_TUITION)
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPENSATED
    assert state.failed_step == Step.CHARGE_TUITION
    assert state.failure_reason == "charge_tuition refused"
    assert services.calls == [Step.RESERVE_SEAT, Step.CANCEL_ENROLLMENT]
    assert state.compensated_steps == [Step.CANCEL_ENROLLMENT]


async def test_failed_confirmation_refunds_before_cancelling(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(refuse=Step.CONFIRM_ENROLLMENT)
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPENSATED
    assert services.calls == [
        Step.RESERVE_SEAT,
        Step.CHARGE_TUITION,
        Step.REFUND_CHARGE,
        Step.CANCEL_ENROLLMENT,
    ]
    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]


async def test_compensations_use_the_same_keys_as_their_steps(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(refuse=Step.CONFIRM_ENROLLMENT)
    await run_saga(time_skipping_env, services)
    # Recorded keys are the last seen per activity: the compensation's, equal to the step's.
    reserve_key = services.keys[Step.RESERVE_SEAT]
    assert services.keys[Step.CANCEL_ENROLLMENT] == reserve_key
    assert services.keys[Step.REFUND_CHARGE] == services.keys[Step.CHARGE_TUITION]
    assert reserve_key.endswith(":reserve_seat")


async def test_transient_faults_in_a_step_are_retried_until_it_succeeds(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(transient_failures={Step.CHARGE_TUITION: 3})
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPLETED
    assert services.attempts[Step.CHARGE_TUITION] == 4


async def test_a_step_failing_past_its_deadline_is_compensated(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(transient_failures={Step.CHARGE_TUITION: 10_000})
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPENSATED
    assert state.failed_step == Step.CHARGE_TUITION
    # Not the last 503 alone, which would read like the service's final answer.
    assert (
        state.failure_reason
        == "gave up after the step's deadline; last error: 503 from the service"
    )
    # The charge's outcome is unknown, so its refund runs too (a no-op on the real service).
    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]


async def test_a_compensation_is_retried_until_it_succeeds(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(
        refuse=Step.CHARGE_TUITION, transient_failures={Step.CANCEL_ENROLLMENT: 25}
    )
    state = await run_saga(time_skipping_env, services)
    assert state.status is SagaStatus.COMPENSATED
    assert services.attempts[Step.CANCEL_ENROLLMENT] == 26
    assert state.compensated_steps == [Step.CANCEL_ENROLLMENT]


async def test_cancelling_the_saga_still_compensates(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockServices(block=Step.CHARGE_TUITION)
    async with onboarding_saga(time_skipping_env, services) as handle:
        await asyncio.wait_for(services.blocked.wait(), timeout=30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        state = await handle.query(StudentOnboardingSaga.status)
        services.release.set()
    assert state.status is SagaStatus.COMPENSATED
    assert state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT]
    assert Step.CANCEL_ENROLLMENT in services.calls
