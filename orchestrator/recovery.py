"""Operating sagas that went wrong: retry a finished saga, retry many at once, reset one.

A **retry** starts the saga's workflow id again as a new execution chain. Its first run id is
new, so every idempotency key (`<workflow id>:<first run id>:<step>`) is new and nothing the
previous run made, and compensated, is reused. The event (name, email, ...) is read from the
previous run's input; only the payment token and the course can be corrected.

A **reset** (Temporal's reset API) replays the latest run up to the workflow task that first tried
a chosen step and runs the saga on from there, in the same chain: the keys stay the same. That
is right for a saga stuck or failed on a bug, once the fix is deployed, and wrong after the run
already undid its steps (the resources under those keys are cancelled); then retry instead.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from common.logs import SagaLogContext
from orchestrator.history_steps import step_tries, unfinished_workflow_task
from orchestrator.sagas import SagaNotFound, initial_search_attributes
from workflows.contracts import (
    SAGA_STATUS,
    WORKFLOW_ID_PREFIX,
    SagaInput,
    SagaStatus,
    Step,
    StudentCreated,
    workflow_id_for,
)
from workflows.onboarding import StudentOnboardingSaga

log = logging.getLogger(__name__)
ALL_SAGAS = 'WorkflowType = "StudentOnboardingSaga"'
RETRYABLE_STATUSES = frozenset({SagaStatus.COMPENSATED, SagaStatus.FAILED})
COMPENSATIONS = frozenset({Step.CANCEL_ENROLLMENT, Step.REFUND_CHARGE})


class SagaNotRetryable(Exception):
    """The saga is running, completed, or stopped half-way: a new run would be wrong now."""


class SagaNotResettable(Exception):
    """The chosen step cannot be run again in this run (never reached, or already undone)."""


class InvalidSagaQuery(Exception):
    """The visibility query was refused by Temporal."""


@dataclass(frozen=True)
class LatestRun:
    """The newest run of a saga's workflow id, as Temporal describes it."""

    student_id: str
    workflow_id: str
    run_id: str
    execution_status: WorkflowExecutionStatus | None
    saga_status: SagaStatus | None


@dataclass(frozen=True)
class SagaCorrections:
    payment_token: str | None = None
    course_id: str | None = None


@dataclass(frozen=True)
class NewRun:
    student_id: str
    workflow_id: str
    previous_run_id: str
    run_id: str


@dataclass(frozen=True)
class BulkRetryOutcome:
    """One saga a bulk retry matched: retried (`run_id`), would be retried (dry run, no
    `run_id`), or skipped with `refusal`."""

    latest: LatestRun
    refusal: str | None
    run_id: str | None


def student_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


async def latest_run(client: Client, workflow_id: str) -> LatestRun:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(student_id_of(workflow_id)) from error
        raise
    saga_status = description.typed_search_attributes.get(SAGA_STATUS)
    return LatestRun(
        student_id=student_id_of(workflow_id),
        workflow_id=workflow_id,
        run_id=description.run_id,
        execution_status=description.status,
        saga_status=SagaStatus(saga_status) if saga_status else None,
    )


def retry_refusal(run: LatestRun) -> str | None:
    """Why this saga must not be retried now; None when it may."""
    name = f"The saga of '{run.student_id}'"
    if run.execution_status == WorkflowExecutionStatus.RUNNING:
        return f"{name} is still running (run {run.run_id}); wait for it to end, or reset it."
    if run.saga_status == SagaStatus.COMPLETED:
        return f"{name} completed (run {run.run_id}); there is nothing to retry."
    if run.saga_status not in RETRYABLE_STATUSES:
        # Terminated or timed out mid-way: its steps may be neither done nor undone, and a new
        # run would leave them so. Resetting the run finishes (or undoes) them instead.
        return (
            f"{name} ended as {run.execution_status.name if run.execution_status else '?'} "
            f"while {run.saga_status or 'not started'}, without finishing its compensation; "
            "reset it to a step instead of retrying."
        )
    return None


async def retry_saga(
    client: Client, task_queue: str, student_id: str, corrections: SagaCorrections
) -> NewRun:
    """Start a new run of a COMPENSATED or FAILED saga with the previous run's event."""
    latest = await latest_run(client, workflow_id_for(student_id))
    refusal = retry_refusal(latest)
    if refusal is not None:
        raise SagaNotRetryable(refusal)
    return await _start_new_chain(client, task_queue, latest, corrections)


@dataclass(frozen=True)
class FailureFilter:
    """Narrows a visibility query by the failure a run recorded in its memo, which visibility
    returns but cannot search (e.g. a charge that gave up after its deadline, not a refusal)."""

    failed_step: Step | None = None
    reason_contains: str | None = None

    def admits(self, memo: Mapping[str, Any]) -> bool:
        if self.failed_step is not None and memo.get("failed_step") != self.failed_step:
            return False
        reason = str(memo.get("failure_reason") or "")
        return self.reason_contains is None or self.reason_contains.lower() in reason.lower()


async def retry_matching(
    client: Client,
    task_queue: str,
    query: str,
    *,
    dry_run: bool,
    limit: int,
    failure: FailureFilter | None = None,
) -> list[BulkRetryOutcome]:
    """Retry every saga with a run matching the visibility query and the failure filter (each
    saga once, judged by its latest run, so a saga already retried to success is skipped)."""
    outcomes = []
    for workflow_id in await _matching_workflow_ids(client, query, limit, failure):
        latest = await latest_run(client, workflow_id)
        refusal = retry_refusal(latest)
        run_id = None
        if refusal is None and not dry_run:
            try:
                run_id = (await _start_new_chain(client, task_queue, latest)).run_id
            except SagaNotRetryable as error:
                refusal = str(error)
        outcomes.append(BulkRetryOutcome(latest, refusal, run_id))
    return outcomes


async def previous_input(client: Client, run: LatestRun) -> SagaInput:
    """The input the run was started with: its history's first event (resets keep it)."""
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [saga_input] = await client.data_converter.decode(payloads, [SagaInput])
        assert isinstance(saga_input, SagaInput)
        return saga_input
    raise SagaNotFound(run.student_id)


async def _start_new_chain(
    client: Client,
    task_queue: str,
    latest: LatestRun,
    corrections: SagaCorrections | None = None,
) -> NewRun:
    previous = await previous_input(client, latest)
    corrections = corrections or SagaCorrections()
    changes = {
        field: value
        for field, value in (
            ("payment_token", corrections.payment_token),
            ("course_id", corrections.course_id),
        )
        if value is not None
    }
    event = StudentCreated.model_validate({**previous.event.model_dump(), **changes})
    try:
        handle = await client.start_workflow(
            StudentOnboardingSaga.run,
            SagaInput(event=event, deadlines=previous.deadlines),
            id=latest.workflow_id,
            task_queue=task_queue,
            # A closed saga's id may be used again, but never while a run is open: two retries
            # racing each other start one run, the other gets SagaNotRetryable.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(event),
        )
    except WorkflowAlreadyStartedError as error:
        raise SagaNotRetryable(
            f"The saga of '{latest.student_id}' was started again meanwhile; it is running."
        ) from error
    assert handle.result_run_id is not None
    saga = SagaLogContext(latest.student_id, latest.workflow_id, handle.result_run_id)
    log.info("saga retried after run %s", latest.run_id, extra=saga.extra())
    return NewRun(latest.student_id, latest.workflow_id, latest.run_id, handle.result_run_id)


async def _matching_workflow_ids(
    client: Client, query: str, limit: int, failure: FailureFilter | None
) -> list[str]:
    workflow_ids: list[str] = []
    try:
        async for execution in client.list_workflows(f"{ALL_SAGAS} AND ({query})", limit=limit):
            if execution.id in workflow_ids:
                continue
            if failure is None or failure.admits(await execution.memo()):
                workflow_ids.append(execution.id)
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidSagaQuery(f"Temporal refused the query: {error.message}") from error
        raise
    return workflow_ids


async def reset_saga(client: Client, student_id: str, step: Step, reason: str) -> NewRun:
    """Reset the saga's latest run to the start of `step`: the equivalent of
    `temporal workflow reset --workflow-id <id> --event-id <workflow task completed event id>`
    with the workflow task that first tried the step."""
    latest = await latest_run(client, workflow_id_for(student_id))
    handle = client.get_workflow_handle(latest.workflow_id, run_id=latest.run_id)
    events = [event async for event in handle.fetch_history_events()]
    event_id = reset_point(events, step, student_id)
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(
                workflow_id=latest.workflow_id, run_id=latest.run_id
            ),
            reason=reason,
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid4()),
            identity=client.identity,
        )
    )
    saga = SagaLogContext(student_id, latest.workflow_id, response.run_id)
    log.info("saga reset to %s after run %s", step, latest.run_id, extra=saga.extra())
    return NewRun(student_id, latest.workflow_id, latest.run_id, response.run_id)


def reset_point(events: Sequence[HistoryEvent], step: Step, student_id: str) -> int:
    """The id of the event that ended the workflow task in which `step` was first tried (its
    local try's marker, or the regular activity's scheduling): resetting to it discards that
    task's commands, so the new run tries the step again. Steps the same task had already
    done are run again too, under the same idempotency keys, so the services answer them with
    what they did the first time (docs/operations.md, "Resetting a saga to a step")."""
    tries = step_tries(events)
    undone = {attempt.step for attempt in tries if attempt.succeeded} & COMPENSATIONS
    if step not in COMPENSATIONS and undone:
        raise SagaNotResettable(
            f"The latest run of '{student_id}' already ran {', '.join(sorted(undone))}: running "
            f"{step} again under the same idempotency keys would meet cancelled resources. "
            "Retry the saga instead (a new run with new keys)."
        )
    for attempt in tries:
        if attempt.step == step:
            return attempt.workflow_task_completed_event_id
    # The run ended inside a workflow task: its local tries, maybe of this step (a forward
    # step or, since compensations are tried locally too, an undo), were never recorded. That
    # task is the latest point before the step.
    unfinished = unfinished_workflow_task(events)
    if unfinished is not None:
        return unfinished
    raise SagaNotResettable(
        f"The latest run of '{student_id}' never scheduled {step}; there is no such point."
    )
