"""Operating sagas that went wrong: retry a finished saga, retry many at once, reset one.

A **retry** starts the saga's workflow id again as a new execution chain. Its first run id is
new, so every idempotency key (`<workflow id>:<first run id>:<step>`) is new and nothing the
previous run made, and compensated, is reused. The input is read from the previous run; only
what the saga type's registry entry lists as correctable can be corrected (onboarding: the
payment token and the course; transfer: the payment token).

**Resuming** a COMPENSATION_FAILED saga sends its workflow the `resume_compensation` update:
the unwind goes on from the undo the service rejected, in the same run.

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
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from common.logs import SagaLogContext
from orchestrator.history_steps import step_tries, unfinished_workflow_task
from orchestrator.sagas import SagaNotFound, start
from sagas import FailureKind, SagaProgress, SagaStatus
from sagas.visibility import SAGA_STATUS
from workflows import registry
from workflows.contracts import SagaCorrections, Step
from workflows.registry import ALL_SAGAS, SagaType

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = frozenset({SagaStatus.COMPENSATED, SagaStatus.FAILED})


class SagaNotRetryable(Exception):
    """The saga is running, completed, or stopped half-way: a new run would be wrong now."""


class SagaNotResettable(Exception):
    """The chosen step cannot be run again in this run (never reached, or already undone)."""


class InvalidSagaQuery(Exception):
    """The visibility query was refused by Temporal."""


class SagaNotResumable(Exception):
    """The saga waits for no operator: it is not COMPENSATION_FAILED."""


class CorrectionNotAllowed(Exception):
    def __init__(self, saga_type: SagaType, fields: set[str]) -> None:
        allowed = ", ".join(sorted(saga_type.correctable)) or "nothing"
        super().__init__(
            f"A retry of a {saga_type.name} saga cannot correct {', '.join(sorted(fields))} "
            f"(it may correct: {allowed})."
        )


@dataclass(frozen=True)
class LatestRun:
    """The newest run of a saga's workflow id, as Temporal describes it."""

    saga_type: SagaType
    saga_id: str
    workflow_id: str
    run_id: str
    execution_status: WorkflowExecutionStatus | None
    saga_status: SagaStatus | None


@dataclass(frozen=True)
class NewRun:
    saga_id: str
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


async def latest_run(client: Client, saga_id: str) -> LatestRun:
    saga_type = registry.for_saga_id(saga_id)
    workflow_id = saga_type.workflow_id(saga_id)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(saga_id) from error
        raise
    saga_status = description.typed_search_attributes.get(SAGA_STATUS)
    return LatestRun(
        saga_type=saga_type,
        saga_id=saga_id,
        workflow_id=workflow_id,
        run_id=description.run_id,
        execution_status=description.status,
        saga_status=SagaStatus(saga_status) if saga_status else None,
    )


def retry_refusal(run: LatestRun) -> str | None:
    """Why this saga must not be retried now; None when it may."""
    name = f"The saga '{run.saga_id}'"
    if run.execution_status == WorkflowExecutionStatus.RUNNING:
        return f"{name} is still running (run {run.run_id}); wait for it to end, or reset it."
    if run.saga_status == SagaStatus.COMPENSATION_FAILED:
        return f"{name} waits for an operator (COMPENSATION_FAILED); resume its compensation."
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
    client: Client, task_queue: str, saga_id: str, corrections: SagaCorrections
) -> NewRun:
    """Start a new run of a COMPENSATED or FAILED saga with the previous run's input."""
    latest = await latest_run(client, saga_id)
    refused = set(corrections.changes()) - latest.saga_type.correctable
    if refused:
        raise CorrectionNotAllowed(latest.saga_type, refused)
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
    failure_kind: FailureKind | None = None

    def admits(self, memo: Mapping[str, Any]) -> bool:
        if self.failed_step is not None and memo.get("failed_step") != self.failed_step:
            return False
        if self.failure_kind is not None and memo.get("failure_kind") != self.failure_kind:
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
        saga_type = registry.for_workflow_id(workflow_id)
        if saga_type is None:
            continue
        latest = await latest_run(client, saga_type.saga_id(workflow_id))
        refusal = retry_refusal(latest)
        run_id = None
        if refusal is None and not dry_run:
            try:
                run_id = (await _start_new_chain(client, task_queue, latest)).run_id
            except SagaNotRetryable as error:
                refusal = str(error)
        outcomes.append(BulkRetryOutcome(latest, refusal, run_id))
    return outcomes


async def previous_input(client: Client, run: LatestRun) -> Any:
    """The input the run was started with: its history's first event (resets keep it)."""
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [saga_input] = await client.data_converter.decode(payloads, [run.saga_type.input_type])
        return saga_input
    raise SagaNotFound(run.saga_id)


async def _start_new_chain(
    client: Client,
    task_queue: str,
    latest: LatestRun,
    corrections: SagaCorrections | None = None,
) -> NewRun:
    saga_type = latest.saga_type
    previous = await previous_input(client, latest)
    saga_input = saga_type.corrections(previous, (corrections or SagaCorrections()).changes())
    # A closed saga's id may be used again, but never while a run is open: two retries racing
    # each other start one run, the other gets SagaNotRetryable.
    started = await start(
        client, task_queue, saga_type, saga_input, WorkflowIDReusePolicy.ALLOW_DUPLICATE
    )
    if not started.created:
        raise SagaNotRetryable(
            f"The saga '{latest.saga_id}' was started again meanwhile; it is running."
        )
    saga = SagaLogContext(saga_type.key_of(saga_input), latest.workflow_id, started.run_id)
    log.info("saga retried after run %s", latest.run_id, extra=saga.fields())
    return NewRun(latest.saga_id, latest.workflow_id, latest.run_id, started.run_id)


async def resume_compensation(client: Client, saga_id: str) -> SagaProgress:
    """Resume the unwind of a COMPENSATION_FAILED saga from its rejected undo, in its run."""
    latest = await latest_run(client, saga_id)
    handle = client.get_workflow_handle(latest.workflow_id, result_type=latest.saga_type.state_type)
    try:
        state = await handle.execute_update(
            "resume_compensation", result_type=latest.saga_type.state_type
        )
    except WorkflowUpdateFailedError as error:
        raise SagaNotResumable(str(error.cause or error)) from error
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise SagaNotResumable(
                f"The saga '{saga_id}' is closed: there is no compensation to resume."
            ) from error
        raise
    log.info(
        "compensation resumed",
        extra=SagaLogContext(saga_id, latest.workflow_id, latest.run_id).fields(),
    )
    assert isinstance(state, SagaProgress)
    return state


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


async def reset_saga(client: Client, saga_id: str, step: Step, reason: str) -> NewRun:
    """Reset the saga's latest run to the start of `step`: the equivalent of
    `temporal workflow reset --workflow-id <id> --event-id <workflow task completed event id>`
    with the workflow task that first tried the step."""
    latest = await latest_run(client, saga_id)
    handle = client.get_workflow_handle(latest.workflow_id, run_id=latest.run_id)
    events = [event async for event in handle.fetch_history_events()]
    event_id = reset_point(events, step, saga_id)
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
    saga = SagaLogContext(saga_id, latest.workflow_id, response.run_id)
    log.info("saga reset to %s after run %s", step, latest.run_id, extra=saga.fields())
    return NewRun(saga_id, latest.workflow_id, latest.run_id, response.run_id)


def reset_point(events: Sequence[HistoryEvent], step: Step, saga_id: str) -> int:
    """The id of the event that ended the workflow task in which `step` was first tried (its
    local try's marker, or the regular activity's scheduling): resetting to it discards that
    task's commands, so the new run tries the step again. Steps the same task had already
    done are run again too, under the same idempotency keys, so the services answer them with
    what they did the first time (docs/operations.md, "Resetting a saga to a step")."""
    tries = step_tries(events)
    undone = {attempt.step for attempt in tries if attempt.succeeded} & registry.UNDO_ACTIVITIES
    if step not in registry.UNDO_ACTIVITIES and undone:
        raise SagaNotResettable(
            f"The latest run of '{saga_id}' already ran {', '.join(sorted(undone))}: running "
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
        f"The latest run of '{saga_id}' never scheduled {step}; there is no such point."
    )
