"""StudentOnboardingSaga: reserve a seat, charge tuition, confirm; on failure, undo in reverse.

Deterministic by construction: no I/O, no clock, no randomness; activities are called by name.
Each compensation is registered *before* its step runs, because a step can succeed on the
service while its answer is lost; it is dropped again only when the service definitively
refused the step (a refusal writes nothing).
"""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    import email_validator  # noqa: F401  (pydantic's EmailStr imports it lazily)

    from workflows.contracts import (
        COURSE_ID,
        SAGA_DURATION_METRIC,
        SAGA_OUTCOMES_METRIC,
        SAGA_STATUS,
        STUDENT_ID,
        ChargeReceipt,
        ChargeTuitionInput,
        CompensationInput,
        ConfirmEnrollmentInput,
        ErrorType,
        ReserveSeatInput,
        SagaDeadlines,
        SagaInput,
        SagaState,
        SagaStatus,
        SeatReservation,
        Step,
    )


# Every change to the commands the workflow issues goes behind a patch id, so that histories
# recorded by older code still replay (docs/operations.md, "Changing the workflow safely").
RECORD_FAILURE_IN_MEMO = "record-failure-in-memo"
LOCAL_FORWARD_STEPS = "local-forward-steps"
LOCAL_COMPENSATIONS = "local-compensations"


# The service's definitive answers to a step; everything else is worth another attempt.
FINAL_ERROR_TYPES = (ErrorType.STEP_REFUSED, ErrorType.CONTRACT_VIOLATION)
# An undo is never refused, only retried; unless the service cannot accept the request at all.
COMPENSATION_FINAL_ERROR_TYPES = (ErrorType.CONTRACT_VIOLATION,)


class StepFailed(Exception):
    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


@workflow.defn
class StudentOnboardingSaga:
    def __init__(self) -> None:
        self._state: SagaState | None = None
        self._compensations: list[tuple[Step, CompensationInput]] = []
        self._deadlines = SagaDeadlines()

    @workflow.query
    def status(self) -> SagaState:
        if self._state is None:
            raise ApplicationError("The saga has not started yet.")
        return self._state

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        event = saga.event
        self._deadlines = saga.deadlines
        self._state = SagaState(student_id=event.student_id, course_id=event.course_id)
        self._label_for_visibility(event.student_id, event.course_id)
        try:
            await self._run_steps(saga)
        except StepFailed as failure:
            self._state.failed_step = failure.step
            self._state.failure_reason = failure.reason
            self._record_failure()
            workflow.logger.warning(
                "step %s failed, compensating: %s", failure.step, failure.reason, extra=self._ids()
            )
            await self._compensate_shielded()
        except BaseException as error:
            if not is_cancelled_exception(error):
                raise
            # Cancelled by an operator: undo what was done, then end as cancelled.
            self._state.failure_reason = "The saga was cancelled."
            self._record_failure()
            await self._compensate_shielded()
            self._record_outcome("cancelled")
            raise
        self._record_outcome(self._state.status.lower())
        return self._state

    async def _run_steps(self, saga: SagaInput) -> None:
        event = saga.event
        reservation_key = self._idempotency_key(Step.RESERVE_SEAT)
        reservation = await self._step(
            Step.RESERVE_SEAT,
            ReserveSeatInput(
                idempotency_key=reservation_key,
                student_id=event.student_id,
                course_id=event.course_id,
            ),
            SeatReservation,
            compensation=(Step.CANCEL_ENROLLMENT, reservation_key),
        )
        self._require_state().enrollment_id = reservation.enrollment_id

        charge_key = self._idempotency_key(Step.CHARGE_TUITION)
        receipt = await self._step(
            Step.CHARGE_TUITION,
            ChargeTuitionInput(
                idempotency_key=charge_key,
                student_id=event.student_id,
                enrollment_id=reservation.enrollment_id,
                amount_cents=reservation.tuition_cents,
                currency=reservation.currency,
                payment_token=event.payment_token,
            ),
            ChargeReceipt,
            compensation=(Step.REFUND_CHARGE, charge_key),
        )
        self._require_state().charge_id = receipt.charge_id

        await self._step(
            Step.CONFIRM_ENROLLMENT,
            ConfirmEnrollmentInput(enrollment_id=reservation.enrollment_id),
            None,
        )
        self._set_status(SagaStatus.COMPLETED)

    async def _step(
        self,
        step: Step,
        arg: Any,
        result_type: Any,
        compensation: tuple[Step, str] | None = None,
    ) -> Any:
        state = self._require_state()
        state.current_step = step
        if compensation is not None:
            undo, key = compensation
            self._compensations.append(
                (undo, CompensationInput(idempotency_key=key, student_id=state.student_id))
            )
        try:
            result = await self._execute_step(step, arg, result_type)
        except (ActivityError, ApplicationError) as error:
            if is_cancelled_exception(error):
                raise
            if compensation is not None and _is_refusal(error):
                self._compensations.pop()  # refused: the service wrote nothing to undo
            raise StepFailed(step, _reason(error)) from error
        state.completed_steps.append(step)
        state.current_step = None
        return result

    async def _execute_step(self, step: Step, arg: Any, result_type: Any) -> Any:
        """One try as a local activity, then, if that try did not settle the step, the step as
        a regular activity with the step's retries and what is left of its deadline.

        A local activity runs inside the workflow task that reached the step: no activity task
        is matched or recorded, only a marker with the result, so a saga whose services answer
        at once costs the server about half as much (docs/benchmarks.md, tuning log). A slow or
        failing step must not stay local: it would hold the workflow task open and make it
        heartbeat for as long as it retries. So the local try gets one short attempt and no
        retries, and anything but an answer (a timeout, a 5xx, a refused connection) hands the
        step to a regular activity, which waits in Temporal at no cost to the worker. Both use
        the same idempotency key: a local try whose answer was lost is not done twice."""
        deadlines = self._deadlines
        started = workflow.now()
        if workflow.patched(LOCAL_FORWARD_STEPS):
            try:
                return await self._local_try(step, arg, result_type)
            except (ActivityError, ApplicationError, TimeoutError) as error:
                # A local activity's failure may arrive without the ActivityError around it.
                if is_cancelled_exception(error) or _is_final(error):
                    raise
                workflow.logger.info(
                    "step %s goes on as a regular activity: %s", step, error, extra=self._ids()
                )
        remaining = timedelta(seconds=deadlines.step_seconds) - (workflow.now() - started)
        return await workflow.execute_activity(
            step,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=deadlines.attempt_seconds),
            schedule_to_close_timeout=max(remaining, timedelta(seconds=1)),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=500),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=deadlines.max_retry_interval_seconds),
                non_retryable_error_types=list(FINAL_ERROR_TYPES),
            ),
        )

    async def _compensate_shielded(self) -> None:
        """Run compensations to the end even if the workflow is cancelled (again) meanwhile."""
        task = asyncio.ensure_future(self._compensate())
        while True:
            try:
                await asyncio.shield(task)
                return
            except asyncio.CancelledError:
                if task.done():
                    raise

    async def _compensate(self) -> None:
        state = self._require_state()
        self._set_status(SagaStatus.COMPENSATING)
        while self._compensations:
            undo, arg = self._compensations.pop()
            state.current_step = undo
            try:
                await self._execute_compensation(undo, arg)
            except (ActivityError, ApplicationError) as error:
                # Only a request the service cannot accept at all ends up here: retrying would
                # not help, so the saga stops as FAILED for an operator, with the reason.
                state.current_step = undo
                state.failure_reason = (
                    f"{state.failure_reason} Then compensation {undo} failed: {_reason(error)}"
                )
                self._record_failure()
                self._set_status(SagaStatus.FAILED)
                return
            state.compensated_steps.append(undo)
        state.current_step = None
        self._set_status(SagaStatus.COMPENSATED)

    async def _local_try(self, activity: Step, arg: Any, result_type: Any = None) -> Any:
        """The one attempt a step or compensation gets as a local activity: no retries, at
        most `local_attempt_seconds` (and never longer than a regular attempt)."""
        deadlines = self._deadlines
        return await workflow.execute_local_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(
                seconds=min(deadlines.local_attempt_seconds, deadlines.attempt_seconds)
            ),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )

    async def _execute_compensation(self, undo: Step, arg: CompensationInput) -> None:
        """One try as a local activity, like a forward step (see `_execute_step`), then, if it
        did not succeed, the compensation as a regular activity that retries until it does.
        An answer that would stop the regular activity's retries (the service cannot accept
        the request) stops the local try's too: the saga ends FAILED for an operator. Same
        idempotency key, so an undo whose answer was lost is not done twice."""
        deadlines = self._deadlines
        if workflow.patched(LOCAL_COMPENSATIONS):
            try:
                await self._local_try(undo, arg)
                return
            except (ActivityError, ApplicationError, TimeoutError) as error:
                if _stops_compensation(error):
                    raise
                workflow.logger.info(
                    "compensation %s goes on as a regular activity: %s",
                    undo,
                    error,
                    extra=self._ids(),
                )
        await workflow.execute_activity(
            undo,
            arg,
            start_to_close_timeout=timedelta(seconds=deadlines.attempt_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(
                    seconds=deadlines.max_compensation_retry_interval_seconds
                ),
                maximum_attempts=0,  # unlimited: an undo must eventually happen
                non_retryable_error_types=list(COMPENSATION_FINAL_ERROR_TYPES),
            ),
        )

    def _record_failure(self) -> None:
        """Write why the saga failed into its memo, where the Temporal UI and `list_workflows`
        show it without asking a worker. Runs recorded before this was added have no such
        command in their history: the patch makes their replay skip it."""
        if not workflow.patched(RECORD_FAILURE_IN_MEMO):
            return
        state = self._require_state()
        failed_step = state.failed_step.value if state.failed_step else None
        # A None value removes the key: a cancelled saga has no failed step.
        workflow.upsert_memo({"failed_step": failed_step, "failure_reason": state.failure_reason})

    def _record_outcome(self, outcome: str) -> None:
        """Count the saga's end and time it, on the worker's metrics endpoint; log it. Both are
        replay-safe: the SDK drops metric records and log lines while replaying a history."""
        state = self._require_state()
        attributes = {
            "outcome": outcome,
            "failed_step": state.failed_step.value if state.failed_step else "none",
        }
        meter = workflow.metric_meter()
        meter.create_counter(SAGA_OUTCOMES_METRIC, "Sagas ended, by outcome and failed step.").add(
            1, attributes
        )
        meter.create_histogram_timedelta(
            SAGA_DURATION_METRIC, "Time from a saga run's start to its end.", unit="ms"
        ).record(workflow.now() - workflow.info().start_time, attributes)
        workflow.logger.info("saga ended: %s", outcome, extra=self._ids())

    def _ids(self) -> dict[str, str]:
        """The saga's ids for a log line (common/logs.py)."""
        info = workflow.info()
        return {
            "student_id": self._require_state().student_id,
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
        }

    def _idempotency_key(self, step: Step) -> str:
        # Stable across activity retries, worker restarts and resets (which keep the first run
        # id); a retried saga is a new execution chain and so never reuses a compensated key.
        info = workflow.info()
        return f"{info.workflow_id}:{info.first_execution_run_id}:{step}"

    def _label_for_visibility(self, student_id: str, course_id: str) -> None:
        present = workflow.info().typed_search_attributes
        updates = [SAGA_STATUS.value_set(SagaStatus.RUNNING)]
        if present.get(STUDENT_ID) != student_id:
            updates.append(STUDENT_ID.value_set(student_id))
        if present.get(COURSE_ID) != course_id:
            updates.append(COURSE_ID.value_set(course_id))
        if present.get(SAGA_STATUS) != SagaStatus.RUNNING or len(updates) > 1:
            workflow.upsert_search_attributes(updates)

    def _set_status(self, status: SagaStatus) -> None:
        self._require_state().status = status
        workflow.upsert_search_attributes([SAGA_STATUS.value_set(status)])

    def _require_state(self) -> SagaState:
        assert self._state is not None
        return self._state


def _application_error(error: BaseException) -> ApplicationError | None:
    cause = error.cause if isinstance(error, ActivityError) else error
    return cause if isinstance(cause, ApplicationError) else None


def _is_refusal(error: BaseException) -> bool:
    cause = _application_error(error)
    return cause is not None and cause.type == ErrorType.STEP_REFUSED


def _is_final(error: BaseException) -> bool:
    """The service's definitive answer: trying again, locally or not, would get the same."""
    cause = _application_error(error)
    return cause is not None and (cause.non_retryable or cause.type in FINAL_ERROR_TYPES)


def _stops_compensation(error: BaseException) -> bool:
    """What the compensation's regular activity would not retry either."""
    cause = _application_error(error)
    return cause is not None and (
        cause.non_retryable or cause.type in COMPENSATION_FINAL_ERROR_TYPES
    )


def _reason(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, TimeoutError):
        return f"gave up after the step's deadline ({cause.type.name if cause.type else 'timeout'})"
    if cause is not None:
        message = str(cause.message) if hasattr(cause, "message") else str(cause)
    else:
        message = str(error)
    # Past the deadline Temporal stops retrying and reports the last attempt's error, which
    # alone ("All connection attempts failed") would read like the service's final answer.
    retry_state = error.retry_state if isinstance(error, ActivityError) else None
    if retry_state in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED):
        return f"gave up after the step's deadline; last error: {message}"
    return message
