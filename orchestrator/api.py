"""HTTP adapter of the orchestrator: start sagas, read their live status, list and retry them."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from temporalio.client import Client

from choreography import events
from choreography import sagas as choreographed
from choreography.runtime import Choreography
from common.problems import ProblemMap, ProblemSpec, problem_responses
from common.requests import JsonBody, OptionalJsonBody
from orchestrator import modes, recovery, sagas
from orchestrator.config import OrchestratorSettings
from orchestrator.modes import ChoreographyUnavailable, SagaInOtherMode
from orchestrator.schemas import (
    BulkRetry,
    BulkRetryAction,
    BulkRetryItem,
    BulkRetryResult,
    SagaListItem,
    SagaMode,
    SagaRetried,
    SagaRetry,
    SagaStarted,
    StudentCreate,
)
from orchestrator.temporal import workflow_ui_url
from workflows.contracts import SagaState, SagaStatus

PROBLEMS: ProblemMap = {
    SagaInOtherMode: ProblemSpec(409, "saga-in-other-mode", "Saga exists in the other mode"),
    sagas.SagaNotFound: ProblemSpec(404, "saga-not-found", "Saga not found"),
    ChoreographyUnavailable: ProblemSpec(
        422, "choreography-unavailable", "Choreography unavailable"
    ),
    sagas.SagaStatusUnavailable: ProblemSpec(503, "saga-status-unavailable", "Status unavailable"),
    recovery.SagaNotRetryable: ProblemSpec(409, "saga-not-retryable", "Saga cannot be retried"),
    recovery.SagaNotResettable: ProblemSpec(409, "saga-not-resettable", "Saga cannot be reset"),
    recovery.InvalidSagaQuery: ProblemSpec(422, "invalid-query", "Invalid visibility query"),
}


def get_client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_settings(request: Request) -> OrchestratorSettings:
    settings: OrchestratorSettings = request.app.state.settings
    return settings


def get_choreography(request: Request) -> Choreography | None:
    choreography: Choreography | None = request.app.state.choreography
    return choreography


TemporalDep = Annotated[Client, Depends(get_client)]
ChoreographyDep = Annotated[Choreography | None, Depends(get_choreography)]
SettingsDep = Annotated[OrchestratorSettings, Depends(get_settings)]

router = APIRouter(tags=["sagas"])


@router.post(
    "/students",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[JsonBody],
    responses={
        200: {"model": SagaStarted, "description": "This student's saga already exists"},
        **problem_responses(400, 409, 415, 422, 503),
    },
)
async def student_created(
    body: StudentCreate,
    client: TemporalDep,
    choreography: ChoreographyDep,
    settings: SettingsDep,
    response: Response,
) -> SagaStarted:
    """The 'student created' event: start the student's onboarding saga, orchestrated by a
    Temporal workflow (default) or choreographed by events (`"mode": "choreography"`)."""
    event = body.to_event()
    status_url = f"{settings.api_base_url()}/sagas/{event.student_id}"
    response.headers["Location"] = status_url
    if body.mode is SagaMode.CHOREOGRAPHY:
        keys = settings.event_keys()
        if not await modes.start_choreographed(client, choreography, event, keys):
            response.status_code = status.HTTP_200_OK
        return SagaStarted(
            student_id=event.student_id, mode=SagaMode.CHOREOGRAPHY, status_url=status_url
        )
    started = await modes.start_orchestrated(client, settings.task_queue, choreography, event)
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return SagaStarted(
        student_id=event.student_id,
        workflow_id=started.workflow_id,
        run_id=started.run_id,
        status_url=status_url,
        temporal_ui_url=workflow_ui_url(settings, started.workflow_id, started.run_id),
    )


@router.get("/sagas/{student_id}", responses=problem_responses(404, 503))
async def get_saga(
    student_id: str, client: TemporalDep, choreography: ChoreographyDep
) -> SagaState:
    """The saga's live status, in either mode: a workflow query (or its result once finished)
    for an orchestrated saga, the saga tracker's projection for a choreographed one."""
    if choreography is not None:
        state = await asyncio.to_thread(choreographed.saga_state, choreography.engine, student_id)
        if state is not None:
            return state
    return await sagas.saga_state(client, student_id)


@router.get("/sagas")
async def list_sagas(
    client: TemporalDep,
    settings: SettingsDep,
    saga_status: Annotated[SagaStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SagaListItem]:
    """Sagas from Temporal visibility, newest first, optionally with one status."""
    return [
        SagaListItem(
            **summary.__dict__,
            temporal_ui_url=workflow_ui_url(settings, summary.workflow_id, summary.run_id),
        )
        for summary in await sagas.list_sagas(client, saga_status, limit)
    ]


@router.post(
    "/sagas/retry",
    dependencies=[JsonBody],
    responses=problem_responses(400, 415, 422),
)
async def retry_matching_sagas(
    body: BulkRetry, client: TemporalDep, settings: SettingsDep
) -> BulkRetryResult:
    """Retry every COMPENSATED or FAILED saga a visibility query matches (or list them)."""
    outcomes = await recovery.retry_matching(
        client,
        settings.task_queue,
        body.query,
        dry_run=body.dry_run,
        limit=body.limit,
        failure=recovery.FailureFilter(body.failed_step, body.reason_contains),
    )
    items = [_bulk_item(outcome, body.dry_run, settings) for outcome in outcomes]
    return BulkRetryResult(
        query=body.query,
        dry_run=body.dry_run,
        retried=sum(item.action is BulkRetryAction.RETRIED for item in items),
        would_retry=sum(item.action is BulkRetryAction.WOULD_RETRY for item in items),
        skipped=sum(item.action is BulkRetryAction.SKIPPED for item in items),
        sagas=items,
    )


@router.post(
    "/sagas/{student_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[OptionalJsonBody],
    responses=problem_responses(400, 404, 409, 415, 422),
)
async def retry_saga(
    student_id: str,
    client: TemporalDep,
    choreography: ChoreographyDep,
    settings: SettingsDep,
    response: Response,
    body: Annotated[SagaRetry | None, Body()] = None,
) -> SagaRetried:
    """Start a new run of a COMPENSATED or FAILED saga, optionally with corrections."""
    corrections = recovery.SagaCorrections(**(body or SagaRetry()).model_dump())
    status_url = f"{settings.api_base_url()}/sagas/{student_id}"
    response.headers["Location"] = status_url
    new_run = await modes.retry_choreographed(
        choreography, student_id, corrections, settings.event_keys()
    )
    if new_run is not None:  # choreographed: runs are numbered, no workflow, no UI link
        return SagaRetried(
            student_id=student_id,
            workflow_id=f"{events.IDEMPOTENCY_KEY_PREFIX}{student_id}",
            previous_run_id=str(new_run - 1),
            run_id=str(new_run),
            status_url=status_url,
            temporal_ui_url="",
        )
    run = await recovery.retry_saga(client, settings.task_queue, student_id, corrections)
    return SagaRetried(
        student_id=student_id,
        workflow_id=run.workflow_id,
        previous_run_id=run.previous_run_id,
        run_id=run.run_id,
        status_url=status_url,
        temporal_ui_url=workflow_ui_url(settings, run.workflow_id, run.run_id),
    )


def _bulk_item(
    outcome: recovery.BulkRetryOutcome, dry_run: bool, settings: OrchestratorSettings
) -> BulkRetryItem:
    latest = outcome.latest
    if outcome.refusal is not None:
        action = BulkRetryAction.SKIPPED
    elif dry_run:
        action = BulkRetryAction.WOULD_RETRY
    else:
        action = BulkRetryAction.RETRIED
    return BulkRetryItem(
        student_id=latest.student_id,
        workflow_id=latest.workflow_id,
        previous_run_id=latest.run_id,
        saga_status=latest.saga_status,
        action=action,
        reason=outcome.refusal,
        run_id=outcome.run_id,
        temporal_ui_url=workflow_ui_url(
            settings, latest.workflow_id, outcome.run_id or latest.run_id
        ),
    )
