"""Runs a declared saga inside a Temporal workflow: steps forward, undos in reverse.

Deterministic by construction: no I/O, no clock but `workflow.now()`, no randomness;
activities are called by name. The workflow holds one `SagaRunner`, calls `run` from its run
method and delegates its `status` query and `resume_compensation` update to it.
"""

import asyncio
import builtins
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    is_cancelled_exception,
)

from sagas.activity_errors import is_final, is_refusal, kind_of, reason_of, stops_undo
from sagas.failures import FINAL_ERROR_TYPES, UNDO_FINAL_ERROR_TYPES, FailureKind, SagaFailure
from sagas.ledger import LedgerEntry, Outcome, Role, SagaProgress, SagaStatus, story
from sagas.metrics import NO_FAILED_STEP, SAGA_DURATION_METRIC, SAGA_OUTCOMES_METRIC
from sagas.policy import SagaDeadlines, StepPolicy, UndoPolicy
from sagas.steps import Parallel, SagaDefinition, Step, StepCall, StepKind
from sagas.visibility import FAILED_STEP, SAGA_STATUS

InputT = TypeVar("InputT")
ProgressT = TypeVar("ProgressT", bound=SagaProgress)


class StepFailed(Exception):
    def __init__(self, step: str, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.kind = kind
        self.reason = reason


@dataclass
class PendingUndo:
    """An undo registered for a step that started: what to call, and its ledger line."""

    activity: str
    arg: Any
    summary: str
    undoes: str
    policy: UndoPolicy


class SagaRunner(Generic[InputT, ProgressT]):
    def __init__(self, definition: SagaDefinition[InputT]) -> None:
        self.definition = definition
        self._progress: ProgressT | None = None
        self._saga: Any = None
        self._deadlines = SagaDeadlines()
        self._results: dict[str, Any] = {}
        # The compensation stack: one group per step (or parallel group), newest last.
        self._undos: list[list[PendingUndo]] = []
        self._pivot_started = False
        self._resume_requested = False
        self._log_fields: dict[str, str] = {}

    # ---- what the workflow delegates -------------------------------------------------------

    @property
    def progress(self) -> ProgressT:
        if self._progress is None:
            raise ApplicationError("The saga has not started yet.")
        return self._progress

    def check_resumable(self) -> None:
        """The `resume_compensation` update's validator: refused (nothing recorded) unless
        the saga waits for an operator after a rejected undo."""
        if self.progress.status is not SagaStatus.COMPENSATION_FAILED:
            raise ApplicationError(
                f"The saga is {self.progress.status}, not {SagaStatus.COMPENSATION_FAILED}: "
                "there is no failed undo to resume."
            )

    def resume_compensation(self) -> ProgressT:
        """Try the rejected undo again and unwind on from there."""
        self._resume_requested = True
        return self.progress

    async def run(
        self,
        saga: InputT,
        progress: ProgressT,
        deadlines: SagaDeadlines,
        labels: Sequence[tuple[SearchAttributeKey[str], str]] = (),
        log_fields: Mapping[str, str] | None = None,
    ) -> ProgressT:
        """Run the saga to its end: COMPLETED, or, after a failure, COMPENSATED (or waiting as
        COMPENSATION_FAILED until an operator resumes it). A cancel compensates, then ends the
        workflow as cancelled."""
        self._saga, self._progress, self._deadlines = saga, progress, deadlines
        info = workflow.info()
        progress.saga_type = self.definition.saga_type
        self._log_fields = {
            **(log_fields or {}),
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
        }
        self._label_for_visibility(labels)
        self._show()
        try:
            await self._forward()
        except StepFailed as failure:
            progress.failed_step = failure.step
            progress.failure_reason = failure.reason
            progress.failure = SagaFailure(
                kind=failure.kind, step=failure.step, reason=failure.reason
            )
            self._record_failure()
            workflow.logger.warning(
                "step %s failed, compensating: %s",
                failure.step,
                failure.reason,
                extra=self._log_fields,
            )
            await _shielded(self._unwind())
        except BaseException as error:
            if not is_cancelled_exception(error):
                raise
            # Cancelled by an operator: undo what was done, then end as cancelled.
            progress.failure_reason = "The saga was cancelled."
            progress.failure = SagaFailure(
                kind=FailureKind.CANCELLED, step=progress.current_step, reason="cancelled"
            )
            self._record_failure()
            await _shielded(self._unwind())
            self._record_outcome("cancelled")
            raise
        self._record_outcome(progress.status.lower())
        return progress

    # ---- forward ---------------------------------------------------------------------------

    async def _forward(self) -> None:
        """The steps, under the saga's deadline if it has one: a timer that, if it fires
        before the pivot started, cancels the running step and compensates."""
        seconds = self._deadlines.saga_seconds
        if seconds is None:
            await self._run_steps()
            return
        steps = asyncio.ensure_future(self._run_steps())
        try:
            await workflow.wait_condition(steps.done, timeout=timedelta(seconds=seconds))
        except builtins.TimeoutError:
            if not self._pivot_started:
                step = self.progress.current_step
                steps.cancel()
                await _settled(steps)
                raise StepFailed(
                    step or "saga",
                    FailureKind.DEADLINE,
                    f"the saga's deadline of {seconds:g} s passed",
                ) from None
        except BaseException:
            steps.cancel()
            await _settled(steps)
            raise
        await steps

    async def _run_steps(self) -> None:
        for item in self.definition.steps:
            if isinstance(item, Parallel):
                await self._run_group(item)
            elif item.kind is StepKind.COMPENSATABLE:
                await self._run_step(item)
            else:
                # From the pivot on there is no way back: a cancel no longer interrupts a
                # step, and the undos of the steps before it are dropped once it succeeds.
                self._pivot_started = True
                await _shielded(self._run_step(item))
        self._set_status(SagaStatus.COMPLETED)

    async def _run_group(self, group: Parallel[InputT]) -> None:
        undos: list[PendingUndo] = []
        self._undos.append(undos)
        outcomes = await asyncio.gather(
            *(self._run_step(step, undos) for step in group.steps), return_exceptions=True
        )
        if not undos:
            self._drop_group(undos)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _run_step(self, step: Step[InputT], group: list[PendingUndo] | None = None) -> None:
        progress = self.progress
        call = self._call(step)
        if step.when is not None and not step.when(call):
            self._enter(
                LedgerEntry(
                    name=step.name,
                    role=Role.STEP,
                    summary=step.summary(call),
                    outcome=Outcome.SKIPPED,
                )
            )
            return
        progress.current_step = step.name
        pending = self._register_undo(step, call, group)
        entry = self._enter(
            LedgerEntry(
                name=step.name, role=Role.STEP, summary=step.summary(call), outcome=Outcome.RUNNING
            )
        )
        try:
            if step.kind is StepKind.RETRIABLE:
                result = await self._execute_retriable(step, call, entry)
            else:
                result = await self._execute(step, call, entry.summary)
        except (ActivityError, ApplicationError) as error:
            if is_cancelled_exception(error):
                self._settle(entry, Outcome.FAILED, "cancelled")
                raise
            self._settle(entry, Outcome.FAILED, reason_of(error))
            if pending is not None and is_refusal(error):
                self._drop_undo(pending)  # refused: the service wrote nothing to undo
            raise StepFailed(step.name, kind_of(error), reason_of(error)) from error
        except asyncio.CancelledError:
            self._settle(entry, Outcome.FAILED, "cancelled")
            raise
        self._results[step.name] = result
        if step.record is not None:
            step.record(progress, result)
        progress.completed_steps.append(step.name)
        progress.current_step = None
        if step.kind is StepKind.PIVOT:
            self._undos.clear()
        self._settle(entry, Outcome.SUCCEEDED)

    def _call(self, step: Step[InputT]) -> StepCall[InputT]:
        return StepCall(
            saga=self._saga, results=dict(self._results), key=idempotency_key(step.name)
        )

    def _register_undo(
        self, step: Step[InputT], call: StepCall[InputT], group: list[PendingUndo] | None
    ) -> PendingUndo | None:
        """Before the step runs: the step may succeed on the service while its answer is lost."""
        if step.undo is None:
            return None
        pending = PendingUndo(
            activity=step.undo.activity,
            arg=step.undo.input(call),
            summary=f"{step.undo.summary(call)}: undo of {step.name}",
            undoes=step.name,
            policy=step.undo.policy,
        )
        if group is None:
            self._undos.append([pending])
        else:
            group.append(pending)
        return pending

    def _drop_undo(self, pending: PendingUndo) -> None:
        for group in self._undos:
            if pending in group:
                group.remove(pending)
                if not group:
                    self._drop_group(group)
                return

    def _drop_group(self, group: list[PendingUndo]) -> None:
        self._undos = [other for other in self._undos if other is not group]

    async def _execute(self, step: Step[InputT], call: StepCall[InputT], summary: str) -> Any:
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
        policy = self._step_policy(step.policy)
        arg = step.input(call)
        started = workflow.now()
        if policy.local_first and self._patched(self.definition.patches.local_steps):
            try:
                return await self._local_try(
                    step.name, arg, step.result_type, summary, policy.attempt_seconds
                )
            except (ActivityError, ApplicationError, TimeoutError) as error:
                # A local activity's failure may arrive without the ActivityError around it.
                if is_cancelled_exception(error) or is_final(error):
                    raise
                workflow.logger.info(
                    "step %s goes on as a regular activity: %s",
                    step.name,
                    error,
                    extra=self._log_fields,
                )
        assert policy.step_seconds is not None
        remaining = timedelta(seconds=policy.step_seconds) - (workflow.now() - started)
        return await workflow.execute_activity(
            step.name,
            arg,
            result_type=step.result_type,
            start_to_close_timeout=timedelta(seconds=policy.attempt_seconds or 0),
            schedule_to_close_timeout=max(remaining, timedelta(seconds=1)),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=500),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=policy.max_retry_interval_seconds or 0),
                non_retryable_error_types=list(FINAL_ERROR_TYPES),
            ),
            summary=summary,
        )

    async def _execute_retriable(
        self, step: Step[InputT], call: StepCall[InputT], entry: LedgerEntry
    ) -> Any:
        """A step after the pivot: retried until it succeeds, with no deadline. Even a
        definitive refusal is only shown (RETRYING, with the reason) and tried again later,
        since there is no way back any more."""
        policy = self._step_policy(step.policy)
        arg = step.input(call)
        interval = timedelta(seconds=policy.max_retry_interval_seconds or 1)
        if policy.local_first:
            try:
                return await self._local_try(
                    step.name, arg, step.result_type, entry.summary, policy.attempt_seconds
                )
            except (ActivityError, ApplicationError, TimeoutError) as error:
                if is_cancelled_exception(error):
                    raise
                self._settle(entry, Outcome.RETRYING, reason_of(error))
        while True:
            try:
                return await workflow.execute_activity(
                    step.name,
                    arg,
                    result_type=step.result_type,
                    start_to_close_timeout=timedelta(seconds=policy.attempt_seconds or 0),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(milliseconds=500),
                        backoff_coefficient=2.0,
                        maximum_interval=interval,
                        maximum_attempts=0,
                    ),
                    summary=entry.summary,
                )
            except (ActivityError, ApplicationError) as error:
                if is_cancelled_exception(error):
                    raise
                self._settle(entry, Outcome.RETRYING, reason_of(error))
                workflow.logger.warning(
                    "retriable step %s failed, trying again in %s: %s",
                    step.name,
                    interval,
                    reason_of(error),
                    extra=self._log_fields,
                )
                await workflow.sleep(interval)

    async def _local_try(
        self,
        activity: str,
        arg: Any,
        result_type: type | None,
        summary: str,
        attempt_seconds: float | None,
    ) -> Any:
        """The one attempt a step or undo gets as a local activity: no retries, at most
        `local_attempt_seconds` (and never longer than a regular attempt)."""
        seconds = self._deadlines.local_try_seconds(attempt_seconds)
        return await workflow.execute_local_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=seconds),
            retry_policy=RetryPolicy(maximum_attempts=1),
            summary=summary,
        )

    def _step_policy(self, policy: StepPolicy) -> StepPolicy:
        deadlines = self._deadlines
        return StepPolicy(
            local_first=policy.local_first,
            attempt_seconds=policy.attempt_seconds or deadlines.attempt_seconds,
            step_seconds=policy.step_seconds or deadlines.step_seconds,
            max_retry_interval_seconds=(
                policy.max_retry_interval_seconds or deadlines.max_retry_interval_seconds
            ),
        )

    # ---- backward --------------------------------------------------------------------------

    async def _unwind(self) -> None:
        """Undo every registered step, newest first, a parallel group at once. An undo the
        service rejects leaves the saga COMPENSATION_FAILED until an operator resumes it."""
        progress = self.progress
        self._set_status(SagaStatus.COMPENSATING)
        while self._undos:
            group = self._undos[-1]
            rejected = await self._undo_group(group)
            if rejected is None:
                self._undos.pop()
                continue
            undo, error = rejected
            if not self._patched(self.definition.patches.compensation_failed_waits):
                # Runs recorded before COMPENSATION_FAILED existed ended here, FAILED.
                progress.current_step = undo.activity
                progress.failure_reason = (
                    f"{progress.failure_reason} Then compensation {undo.activity} failed: "
                    f"{reason_of(error)}"
                )
                progress.undo_failure = _undo_failure(undo, error)
                self._record_failure()
                self._set_status(SagaStatus.FAILED)
                return
            await self._wait_for_operator(undo, error)
        progress.current_step = None
        self._set_status(SagaStatus.COMPENSATED)

    async def _undo_group(
        self, group: list[PendingUndo]
    ) -> tuple[PendingUndo, BaseException] | None:
        """Run the group's undos (concurrently if more than one); those that succeed leave the
        group. The first rejected one, if any, with its error."""
        if len(group) == 1:
            outcomes = [await self._undo(group[0])]
        else:
            outcomes = list(await asyncio.gather(*(self._undo(undo) for undo in group)))
        rejected = None
        for undo, error in zip(list(group), outcomes, strict=True):
            if error is None:
                group.remove(undo)
            elif rejected is None:
                rejected = (undo, error)
        return rejected

    async def _undo(self, undo: PendingUndo) -> BaseException | None:
        progress = self.progress
        progress.current_step = undo.activity
        entry = self._enter(
            LedgerEntry(
                name=undo.activity,
                role=Role.UNDO,
                summary=undo.summary,
                outcome=Outcome.RUNNING,
                undoes=undo.undoes,
            )
        )
        try:
            await self._execute_undo(undo)
        except (ActivityError, ApplicationError) as error:
            self._settle(entry, Outcome.FAILED, reason_of(error))
            return error
        progress.compensated_steps.append(undo.activity)
        self._settle(entry, Outcome.SUCCEEDED)
        return None

    async def _execute_undo(self, undo: PendingUndo) -> None:
        """One try as a local activity, like a forward step (see `_execute`), then, if it did
        not succeed, the undo as a regular activity with the undo's own retry budget (by
        default: until it succeeds). An answer that would stop the regular activity's retries
        (the service cannot accept the request) stops the local try's too. Same idempotency
        key, so an undo whose answer was lost is not done twice."""
        deadlines, policy = self._deadlines, undo.policy
        attempt_seconds = policy.attempt_seconds or deadlines.attempt_seconds
        if policy.local_first and self._patched(self.definition.patches.local_undos):
            try:
                await self._local_try(undo.activity, undo.arg, None, undo.summary, attempt_seconds)
                return
            except (ActivityError, ApplicationError, TimeoutError) as error:
                if stops_undo(error):
                    raise
                workflow.logger.info(
                    "compensation %s goes on as a regular activity: %s",
                    undo.activity,
                    error,
                    extra=self._log_fields,
                )
        await workflow.execute_activity(
            undo.activity,
            undo.arg,
            start_to_close_timeout=timedelta(seconds=attempt_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(
                    seconds=policy.max_retry_interval_seconds
                    or deadlines.max_compensation_retry_interval_seconds
                ),
                maximum_attempts=policy.maximum_attempts,
                non_retryable_error_types=list(UNDO_FINAL_ERROR_TYPES),
            ),
            summary=undo.summary,
        )

    async def _wait_for_operator(self, undo: PendingUndo, error: BaseException) -> None:
        """COMPENSATION_FAILED: the workflow stays open, visibly, until the
        `resume_compensation` update; then the rejected undo is tried again."""
        progress = self.progress
        progress.current_step = undo.activity
        progress.undo_failure = _undo_failure(undo, error)
        self._record_failure()
        self._set_status(SagaStatus.COMPENSATION_FAILED)
        workflow.logger.error(
            "compensation %s was rejected; waiting for an operator: %s",
            undo.activity,
            reason_of(error),
            extra=self._log_fields,
        )
        self._resume_requested = False
        await workflow.wait_condition(lambda: self._resume_requested)
        workflow.logger.info("compensation resumed at %s", undo.activity, extra=self._log_fields)
        progress.undo_failure = None
        self._record_failure()
        self._set_status(SagaStatus.COMPENSATING)

    # ---- what the saga shows ---------------------------------------------------------------

    def _enter(self, entry: LedgerEntry) -> LedgerEntry:
        self.progress.ledger.append(entry)
        self._show()
        return entry

    def _settle(self, entry: LedgerEntry, outcome: Outcome, reason: str | None = None) -> None:
        entry.outcome = outcome
        entry.reason = reason
        self._show()

    def _show(self) -> None:
        """The story in the Temporal UI's current details (no command, no history event)."""
        workflow.set_current_details(story(self.progress))

    def _record_failure(self) -> None:
        """Write why the saga failed into its memo, where the Temporal UI and `list_workflows`
        show it without asking a worker. Runs recorded before this was added have no such
        command in their history: the patch makes their replay skip it."""
        if not self._patched(self.definition.patches.failure_memo):
            return
        progress = self.progress
        kind = progress.undo_failure.kind if progress.undo_failure else progress.failure_kind
        # A None value removes the key: a cancelled saga has no failed step.
        workflow.upsert_memo(
            {
                "saga_type": progress.saga_type,
                "failed_step": progress.failed_step,
                "failure_kind": kind.value if kind else None,
                "failure_reason": progress.failure_reason,
                "failed_undo": progress.undo_failure.step if progress.undo_failure else None,
            }
        )

    def _record_outcome(self, outcome: str) -> None:
        """Count the saga's end and time it, on the worker's metrics endpoint; log it. Both are
        replay-safe: the SDK drops metric records and log lines while replaying a history."""
        progress = self.progress
        attributes = {
            "saga_type": self.definition.saga_type,
            "outcome": outcome,
            "failed_step": progress.failed_step or NO_FAILED_STEP,
        }
        meter = workflow.metric_meter()
        meter.create_counter(SAGA_OUTCOMES_METRIC, "Sagas ended, by outcome and failed step.").add(
            1, attributes
        )
        meter.create_histogram_timedelta(
            SAGA_DURATION_METRIC, "Time from a saga run's start to its end.", unit="ms"
        ).record(workflow.now() - workflow.info().start_time, attributes)
        workflow.logger.info("saga ended: %s", outcome, extra=self._log_fields)

    def _label_for_visibility(self, labels: Sequence[tuple[SearchAttributeKey[str], str]]) -> None:
        """The starter sets the labels and RUNNING at start; a run started without them (a
        reset keeps the first run's) gets them here, in one command at most."""
        present = workflow.info().typed_search_attributes
        updates: list[SearchAttributeUpdate[Any]] = [SAGA_STATUS.value_set(SagaStatus.RUNNING)]
        for key, value in labels:
            if present.get(key) != value:
                updates.append(key.value_set(value))
        if present.get(SAGA_STATUS) != SagaStatus.RUNNING or len(updates) > 1:
            workflow.upsert_search_attributes(updates)

    def _set_status(self, status: SagaStatus) -> None:
        progress = self.progress
        progress.status = status
        updates: list[SearchAttributeUpdate[Any]] = [SAGA_STATUS.value_set(status)]
        if progress.failed_step is not None:
            updates.append(FAILED_STEP.value_set(progress.failed_step))
        workflow.upsert_search_attributes(updates)
        self._show()

    def _patched(self, patch_id: str | None) -> bool:
        return patch_id is None or workflow.patched(patch_id)


def idempotency_key(step: str) -> str:
    """The one rule for a step's idempotency key. Stable across activity retries, worker
    restarts and resets (which keep the first run id); a retried saga is a new execution chain
    and so never reuses a compensated key."""
    info = workflow.info()
    return f"{info.workflow_id}:{info.first_execution_run_id}:{step}"


def _undo_failure(undo: PendingUndo, error: BaseException) -> SagaFailure:
    return SagaFailure(
        kind=FailureKind.COMPENSATION_FAILED, step=undo.activity, reason=reason_of(error)
    )


async def _shielded(work: Awaitable[None]) -> None:
    """Run `work` to its end even if the workflow is cancelled (again) meanwhile."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            await asyncio.shield(task)
            return
        except asyncio.CancelledError:
            if task.done():
                raise


async def _settled(task: "asyncio.Future[None]") -> None:
    """Wait for a cancelled task to finish, whatever it ended with: the caller's outcome
    replaces it."""
    with contextlib.suppress(BaseException):
        await task
