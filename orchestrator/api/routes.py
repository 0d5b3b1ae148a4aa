"""HTTP adapter of the orchestrator: start sagas, read their live status, list and retry them."""

import asyncio
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status
from temporalio.client import Client

from choreography import events
from choreography import sagas as choreographed
from common.problems import ProblemMap, ProblemSpec, problem_responses
from common.requests import JsonBody, OptionalJsonBody
from orchestrator import modes, recovery, sagas
from orchestrator.api import waiting
from orchestrator.api.deps import ChoreographyDep, EnrollmentDep, SettingsDep, TemporalDep
from orchestrator.api.schemas import (
    BulkRetry,
    BulkRetryAction,
    BulkRetryItem,
    BulkRetryResult,
    SagaListItem,
    SagaMode,
    SagaProgressAnswer,
    SagaRetried,
    SagaStarted,
    StudentCreate,
    TransferCreate,
)
from orchestrator.config import OrchestratorSettings
from orchestrator.modes import ChoreographyUnavailable, SagaInOtherMode
from orchestrator.temporal import workflow_ui_url
from sagas import SagaStatus
from workflows import registry
from workflows.contracts import SagaCorrections
from workflows.transfer import TransferState

PROBLEMS: ProblemMap = {
    SagaInOtherMode: ProblemSpec(409, "saga-in-other-mode", "Saga exists in the other mode"),
    sagas.SagaNotFound: ProblemSpec(404, "saga-not-found", "Saga not found"),
    sagas.SagaRunning: ProblemSpec(409, "saga-running", "Saga running"),
    sagas.NotEnrolled: ProblemSpec(409, "not-enrolled", "Not enrolled"),
    sagas.EnrollmentUnavailable: ProblemSpec(
        503, "enrollment-unavailable", "Enrollment service unavailable"
    ),
    recovery.SagaNotResumable: ProblemSpec(409, "saga-not-resumable", "Nothing to resume"),
    recovery.CorrectionNotAllowed: ProblemSpec(422, "correction-not-allowed", "Cannot correct"),
    registry.UnknownSagaType: ProblemSpec(422, "unknown-saga-type", "Unknown saga type"),
    ChoreographyUnavailable: ProblemSpec(
        422, "choreography-unavailable", "Choreography unavailable"
    ),
    sagas.SagaStatusUnavailable: ProblemSpec(503, "saga-status-unavailable", "Status unavailable"),
    recovery.SagaNotRetryable: ProblemSpec(409, "saga-not-retryable", "Saga cannot be retried"),
    recovery.SagaNotResettable: ProblemSpec(409, "saga-not-resettable", "Saga cannot be reset"),
    recovery.InvalidSagaQuery: ProblemSpec(422, "invalid-query", "Invalid visibility query"),
}


PreferHeaders = Annotated[
    list[str] | None,
    Header(description="RFC 7240; `wait=N` (N <= 30) waits up to N s for the saga to end."),
]

router = APIRouter(tags=["sagas"])


@router.post(
    "/students",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SagaStarted,
    dependencies=[JsonBody],
    responses={
        200: {
            "model": SagaStarted | SagaProgressAnswer,
            "description": "This student's saga already exists (SagaStarted), or, with "
            "`Prefer: wait=N`, the saga ended within N seconds: its terminal state (SagaState)",
        },
        **problem_responses(400, 409, 415, 422, 503),
    },
)
async def student_created(
    body: StudentCreate,
    client: TemporalDep,
    choreography: ChoreographyDep,
    settings: SettingsDep,
    response: Response,
    prefer: PreferHeaders = None,
) -> SagaStarted | Response:
    """The 'student created' event: start the student's onboarding saga, orchestrated by a
    Temporal workflow (default) or choreographed by events (`"mode": "choreography"`).
    `Prefer: wait=N` (N <= 30): wait up to N s for the saga to end."""
    event = body.to_event()
    if body.mode is SagaMode.CHOREOGRAPHY:
        status_url = settings.saga_url(event.student_id)
        response.headers["Location"] = status_url
        keys = settings.event_keys()
        created = await modes.start_choreographed(client, choreography, event, keys)
        assert choreography is not None  # start_choreographed refuses without it
        end_within = partial(waiting.choreographed_end_within, choreography, event.student_id)
        if (waited := await waiting.waited_answer(prefer, status_url, end_within)) is not None:
            return waited
        if not created:
            response.status_code = status.HTTP_200_OK
        return SagaStarted(
            saga_id=event.student_id,
            saga_type=registry.ONBOARDING.name,
            student_id=event.student_id,
            mode=SagaMode.CHOREOGRAPHY,
            status_url=status_url,
        )
    started = await modes.start_orchestrated(client, settings.task_queue, choreography, event)
    return await _answer(client, started, event.student_id, settings, response, prefer)


@router.post(
    "/transfers",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SagaStarted,
    dependencies=[JsonBody],
    responses={
        200: {
            "model": TransferState,
            "description": "With `Prefer: wait=N`, the saga ended within N seconds: its "
            "terminal state",
        },
        **problem_responses(400, 409, 415, 422, 503),
    },
)
async def transfer_course(
    body: TransferCreate,
    client: TemporalDep,
    enrollment: EnrollmentDep,
    settings: SettingsDep,
    response: Response,
    prefer: PreferHeaders = None,
) -> SagaStarted | Response:
    """Start a course transfer saga: reserve the new seat, settle the price difference,
    withdraw from the old course, confirm the new one. One transfer per student at a time.
    `Prefer: wait=N` (N <= 30): wait up to N s for the saga to end."""
    started = await sagas.start_transfer(
        client, settings.task_queue, enrollment, body.to_transfer()
    )
    return await _answer(client, started, body.student_id, settings, response, prefer)


async def _answer(
    client: Client,
    started: sagas.StartedSaga,
    student_id: str,
    settings: OrchestratorSettings,
    response: Response,
    prefer: list[str] | None,
) -> SagaStarted | Response:
    """202 with the saga's links (200 if it existed already), or, asked to wait and the saga
    ended in time, 200 with its terminal state."""
    status_url = settings.saga_url(started.saga_id)
    response.headers["Location"] = status_url
    end_within = partial(waiting.saga_end_within, client, started.saga_id)
    if (waited := await waiting.waited_answer(prefer, status_url, end_within)) is not None:
        return waited
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return SagaStarted(
        saga_id=started.saga_id,
        saga_type=started.saga_type,
        student_id=student_id,
        workflow_id=started.workflow_id,
        run_id=started.run_id,
        status_url=status_url,
        temporal_ui_url=workflow_ui_url(settings, started.workflow_id, started.run_id),
    )


@router.get("/sagas/{saga_id}", responses=problem_responses(404, 503))
async def get_saga(
    saga_id: str, client: TemporalDep, choreography: ChoreographyDep
) -> SagaProgressAnswer:
    """Any saga's live status, in either mode: a workflow query (or its result once finished)
    for an orchestrated saga, the saga tracker's projection for a choreographed one. An
    onboarding saga's id is its student's id."""
    if choreography is not None:
        state = await asyncio.to_thread(choreographed.saga_state, choreography.engine, saga_id)
        if state is not None:
            return state
    progress = await sagas.saga_state(client, saga_id)
    assert isinstance(progress, SagaProgressAnswer)
    return progress


@router.get("/sagas", responses=problem_responses(422))
async def list_sagas(
    client: TemporalDep,
    settings: SettingsDep,
    saga_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    saga_status: Annotated[SagaStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SagaListItem]:
    """Sagas from Temporal visibility, newest first, optionally of one type and one status."""
    of_type = registry.by_name(saga_type) if saga_type is not None else None
    return [
        SagaListItem(
            **summary.__dict__,
            temporal_ui_url=workflow_ui_url(settings, summary.workflow_id, summary.run_id),
        )
        for summary in await sagas.list_sagas(client, of_type, saga_status, limit)
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
        failure=recovery.FailureFilter(body.failed_step, body.reason_contains, body.failure_kind),
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
    "/sagas/{saga_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[OptionalJsonBody],
    responses=problem_responses(400, 404, 409, 415, 422),
)
async def retry_saga(
    saga_id: str,
    client: TemporalDep,
    choreography: ChoreographyDep,
    settings: SettingsDep,
    response: Response,
    body: Annotated[SagaCorrections | None, Body()] = None,
) -> SagaRetried:
    """Start a new run of a COMPENSATED or FAILED saga, optionally with corrections."""
    corrections = body or SagaCorrections()
    status_url = settings.saga_url(saga_id)
    response.headers["Location"] = status_url
    new_run = await modes.retry_choreographed(
        choreography, saga_id, corrections, settings.event_keys()
    )
    if new_run is not None:  # choreographed: runs are numbered, no workflow, no UI link
        return SagaRetried(
            saga_id=saga_id,
            student_id=saga_id,
            workflow_id=f"{events.IDEMPOTENCY_KEY_PREFIX}{saga_id}",
            previous_run_id=str(new_run - 1),
            run_id=str(new_run),
            status_url=status_url,
            temporal_ui_url="",
        )
    run = await recovery.retry_saga(client, settings.task_queue, saga_id, corrections)
    return SagaRetried(
        saga_id=saga_id,
        student_id=registry.for_saga_id(saga_id).key(saga_id),
        workflow_id=run.workflow_id,
        previous_run_id=run.previous_run_id,
        run_id=run.run_id,
        status_url=status_url,
        temporal_ui_url=workflow_ui_url(settings, run.workflow_id, run.run_id),
    )


@router.post(
    "/sagas/{saga_id}/resume-compensation",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(404, 409),
)
async def resume_compensation(
    saga_id: str, client: TemporalDep, settings: SettingsDep, response: Response
) -> SagaProgressAnswer:
    """Resume the unwind of a COMPENSATION_FAILED saga from the undo its service rejected,
    once the cause is fixed (a Temporal update of its workflow)."""
    progress = await recovery.resume_compensation(client, saga_id)
    response.headers["Location"] = settings.saga_url(saga_id)
    assert isinstance(progress, SagaProgressAnswer)
    return progress


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
        saga_id=latest.saga_id,
        student_id=latest.saga_type.key(latest.saga_id),
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
