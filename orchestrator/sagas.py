"""Saga use cases behind the orchestrator API: start one, read its status, list them.

Every saga type is handled the same way, through its entry in workflows/registry.py.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from common.logs import SagaLogContext
from orchestrator.clients import EnrollmentClient
from sagas import SagaDeadlines, SagaProgress, SagaStatus
from sagas.visibility import SAGA_STATUS, SAGA_TYPE
from workflows import registry
from workflows.contracts import NewStudent, SagaInput
from workflows.registry import SagaType
from workflows.transfer import CourseTransfer, TransferInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartedSaga:
    saga_type: str
    saga_id: str
    workflow_id: str
    run_id: str
    created: bool


@dataclass(frozen=True)
class SagaSummary:
    saga_type: str | None
    saga_id: str
    student_id: str | None
    course_id: str | None
    status: str | None
    workflow_id: str
    run_id: str
    started_at: datetime
    closed_at: datetime | None


class SagaNotFound(Exception):
    def __init__(self, saga_id: str) -> None:
        super().__init__(f"No saga '{saga_id}'.")


class SagaStatusUnavailable(Exception):
    """The saga exists but its live status cannot be read now (e.g. no worker is running)."""


class SagaRunning(Exception):
    """A saga of this type and key is open: only one at a time (e.g. one transfer per student)."""

    def __init__(self, saga_id: str, run_id: str) -> None:
        super().__init__(f"Saga '{saga_id}' is running (run {run_id}); wait for it to end.")


class EnrollmentUnavailable(Exception):
    """The enrollment service could not say whether the student is enrolled."""


class NotEnrolled(Exception):
    def __init__(self, student_id: str, course_id: str) -> None:
        super().__init__(
            f"Student '{student_id}' holds no CONFIRMED enrollment in course '{course_id}'."
        )


async def start(
    client: Client,
    task_queue: str,
    saga_type: SagaType,
    saga_input: Any,
    id_reuse_policy: WorkflowIDReusePolicy | None = None,
) -> StartedSaga:
    """Start a saga of this type, or find the one its workflow id already names (created=False).
    Whether a closed saga's id may be used again is the type's rule unless the caller says."""
    saga_id = saga_type.saga_id_for_input(saga_input)
    workflow_id = saga_type.workflow_id(saga_id)
    try:
        handle = await client.start_workflow(
            saga_type.workflow_type,
            saga_input,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=id_reuse_policy or saga_type.id_reuse,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(saga_type, saga_input),
            static_summary=saga_type.describe(saga_input),
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(workflow_id).describe()
        context = SagaLogContext(saga_type.key_of(saga_input), workflow_id, description.run_id)
        log.info("saga already started, not started again", extra=context.fields())
        return StartedSaga(saga_type.name, saga_id, workflow_id, description.run_id, False)
    assert handle.result_run_id is not None
    context = SagaLogContext(saga_type.key_of(saga_input), workflow_id, handle.result_run_id)
    log.info("%s saga started", saga_type.name, extra=context.fields())
    return StartedSaga(saga_type.name, saga_id, workflow_id, handle.result_run_id, True)


async def start_saga(
    client: Client, task_queue: str, event: NewStudent, deadlines: SagaDeadlines | None = None
) -> StartedSaga:
    """Start the student's onboarding saga, or return the one already running or finished: one
    saga per student id (a failed saga is retried explicitly, not by posting the student again)."""
    saga_input = SagaInput(event=event, deadlines=deadlines or SagaDeadlines())
    return await start(client, task_queue, registry.ONBOARDING, saga_input)


async def start_transfer(
    client: Client,
    task_queue: str,
    enrollment: EnrollmentClient,
    request: CourseTransfer,
    deadlines: SagaDeadlines | None = None,
) -> StartedSaga:
    """Start the student's course transfer: refused unless they hold a CONFIRMED enrollment in
    the course they leave, and while another transfer of theirs runs."""
    try:
        enrolled = await enrollment.confirmed_enrollment(request.student_id, request.from_course_id)
    except ApplicationError as error:
        raise EnrollmentUnavailable(
            f"Cannot check the student's enrollment now: {error.message}"
        ) from error
    if enrolled is None:
        raise NotEnrolled(request.student_id, request.from_course_id)
    saga_input = TransferInput(
        transfer=request,
        from_enrollment_id=enrolled["enrollment_id"],
        from_tuition_cents=enrolled["tuition_cents"],
        currency=enrolled["currency"],
        deadlines=deadlines or SagaDeadlines(),
    )
    started = await start(client, task_queue, registry.TRANSFER, saga_input)
    if not started.created:
        raise SagaRunning(started.saga_id, started.run_id)
    return started


async def saga_exists(client: Client, student_id: str) -> bool:
    try:
        await client.get_workflow_handle(registry.ONBOARDING.workflow_id(student_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def initial_search_attributes(saga_type: SagaType, saga_input: Any) -> TypedSearchAttributes:
    """Set at start so a saga is findable by type, status and its own labels before its first
    task (and without a workflow command)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SAGA_TYPE, saga_type.name),
            SearchAttributePair(SAGA_STATUS, SagaStatus.RUNNING.value),
            *(SearchAttributePair(key, value) for key, value in saga_type.labels(saga_input)),
        ]
    )


async def saga_state(client: Client, saga_id: str) -> SagaProgress:
    """The live status while running (workflow query), the result once completed."""
    saga_type = registry.for_saga_id(saga_id)
    handle = client.get_workflow_handle(
        saga_type.workflow_id(saga_id), result_type=saga_type.state_type
    )
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(saga_id) from error
        raise
    try:
        if description.status == WorkflowExecutionStatus.COMPLETED:
            state = await handle.result()
        else:
            state = await handle.query("status", result_type=saga_type.state_type)
    except RPCError as error:
        raise SagaStatusUnavailable(
            f"The saga '{saga_id}' exists but its status cannot be read now: {error.message}"
        ) from error
    assert isinstance(state, SagaProgress)
    # Runs recorded before the kit carried neither field in their state.
    state.saga_id, state.saga_type = saga_id, saga_type.name
    return state


async def list_sagas(
    client: Client, saga_type: SagaType | None, status: SagaStatus | None, limit: int
) -> list[SagaSummary]:
    if saga_type is None:
        query = registry.ALL_SAGAS
    else:
        query = f'WorkflowType = "{saga_type.workflow_type}"'
    if status is not None:
        query += f' AND SagaStatus = "{status.value}"'
    summaries = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        found = registry.for_workflow_id(execution.id)
        summaries.append(
            SagaSummary(
                saga_type=found.name if found else None,
                saga_id=found.saga_id(execution.id) if found else execution.id,
                student_id=attributes.get(registry.STUDENT_ID),
                course_id=attributes.get(registry.COURSE_ID),
                status=attributes.get(SAGA_STATUS),
                workflow_id=execution.id,
                run_id=execution.run_id,
                started_at=execution.start_time,
                closed_at=execution.close_time,
            )
        )
    return summaries
