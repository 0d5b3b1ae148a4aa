"""Saga use cases behind the orchestrator API: start one, read its status, list them."""

import logging
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from common.logs import SagaLogContext
from workflows.contracts import (
    COURSE_ID,
    SAGA_STATUS,
    STUDENT_ID,
    SagaDeadlines,
    SagaInput,
    SagaState,
    SagaStatus,
    StudentCreated,
    workflow_id_for,
)
from workflows.onboarding import StudentOnboardingSaga

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartedSaga:
    workflow_id: str
    run_id: str
    created: bool


@dataclass(frozen=True)
class SagaSummary:
    student_id: str | None
    course_id: str | None
    status: str | None
    workflow_id: str
    run_id: str
    started_at: datetime
    closed_at: datetime | None


class SagaNotFound(Exception):
    def __init__(self, student_id: str) -> None:
        super().__init__(f"No saga for student '{student_id}'.")


class SagaStatusUnavailable(Exception):
    """The saga exists but its live status cannot be read now (e.g. no worker is running)."""


async def start_saga(
    client: Client, task_queue: str, event: StudentCreated, deadlines: SagaDeadlines | None = None
) -> StartedSaga:
    """Start the student's saga, or return the one already running or finished: one saga per
    student id (a failed saga is retried explicitly, not by posting the student again)."""
    workflow_id = workflow_id_for(event.student_id)
    try:
        handle = await client.start_workflow(
            StudentOnboardingSaga.run,
            SagaInput(event=event, deadlines=deadlines or SagaDeadlines()),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(event),
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(workflow_id).describe()
        saga = SagaLogContext(event.student_id, workflow_id, description.run_id)
        log.info("saga already started, not started again", extra=saga.extra())
        return StartedSaga(workflow_id, description.run_id, created=False)
    assert handle.result_run_id is not None
    saga = SagaLogContext(event.student_id, workflow_id, handle.result_run_id)
    log.info("saga started for course %s", event.course_id, extra=saga.extra())
    return StartedSaga(workflow_id, handle.result_run_id, created=True)


async def saga_exists(client: Client, student_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id_for(student_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def initial_search_attributes(event: StudentCreated) -> TypedSearchAttributes:
    """Set at start so a saga is findable by student, course and status before its first task."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STUDENT_ID, event.student_id),
            SearchAttributePair(COURSE_ID, event.course_id),
            SearchAttributePair(SAGA_STATUS, SagaStatus.RUNNING.value),
        ]
    )


async def saga_state(client: Client, student_id: str) -> SagaState:
    """The live status while running (workflow query), the result once completed."""
    handle: WorkflowHandle[StudentOnboardingSaga, SagaState] = client.get_workflow_handle_for(
        StudentOnboardingSaga.run, workflow_id_for(student_id)
    )
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(student_id) from error
        raise
    try:
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        return await handle.query(StudentOnboardingSaga.status)
    except RPCError as error:
        raise SagaStatusUnavailable(
            f"The saga of '{student_id}' exists but its status cannot be read now: {error.message}"
        ) from error


async def list_sagas(client: Client, status: SagaStatus | None, limit: int) -> list[SagaSummary]:
    query = 'WorkflowType = "StudentOnboardingSaga"'
    if status is not None:
        query += f' AND SagaStatus = "{status.value}"'
    summaries = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        summaries.append(
            SagaSummary(
                student_id=attributes.get(STUDENT_ID),
                course_id=attributes.get(COURSE_ID),
                status=attributes.get(SAGA_STATUS),
                workflow_id=execution.id,
                run_id=execution.run_id,
                started_at=execution.start_time,
                closed_at=execution.close_time,
            )
        )
    return summaries
