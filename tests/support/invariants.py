"""The reliability issue's invariant checker (orchestrator/invariants.py), over both modes.

Its rules are about a saga and the rows its idempotency keys created; a choreographed saga's
keys are `choreography:<student>:<step>` and its status is the tracker's. So the sagas checked
are Temporal's plus the choreographed ones from the API's database, seen as finished once the
tracker says so.
"""

from typing import Any

import httpx
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus

from choreography.events import IDEMPOTENCY_KEY_PREFIX
from choreography.sagas import ChoreographedSaga
from choreography.tracker import all_views
from common.database import create_database_engine
from orchestrator.invariants import SAGA_KEY_PREFIXES, Saga, evaluate, list_sagas
from workflows.contracts import TERMINAL_STATUSES, SagaStatus


def choreographed_sagas(api_database_url: str) -> list[Saga]:
    engine = create_database_engine(api_database_url)
    try:
        views = all_views(engine)
        with Session(engine) as session:
            registered = [row.student_id for row in session.exec(select(ChoreographedSaga))]
    finally:
        engine.dispose()
    sagas = []
    for student_id in registered:
        view = views.get(student_id)
        status = view.status if view is not None else SagaStatus.RUNNING
        finished = status in TERMINAL_STATUSES
        sagas.append(
            Saga(
                workflow_id=f"{IDEMPOTENCY_KEY_PREFIX}{student_id}",
                key_prefix=f"{IDEMPOTENCY_KEY_PREFIX}{student_id}:",
                execution_status=(
                    WorkflowExecutionStatus.COMPLETED
                    if finished
                    else WorkflowExecutionStatus.RUNNING
                ),
                status=status,
            )
        )
    return sagas


async def violations(
    temporal: Client,
    enrollment: httpx.AsyncClient,
    billing: httpx.AsyncClient,
    api_database_url: str | None,
) -> set[str]:
    """Every violation, in either mode; running sagas are skipped (not a quiet system)."""
    sagas = await list_sagas(temporal)
    if api_database_url is not None:
        sagas += choreographed_sagas(api_database_url)
    courses: list[dict[str, Any]] = (await enrollment.get("/courses")).json()
    enrollments: list[dict[str, Any]] = (await enrollment.get("/enrollments")).json()
    charges: list[dict[str, Any]] = (await billing.get("/charges")).json()
    report = evaluate(
        sagas,
        courses,
        enrollments,
        charges,
        expect_quiet=False,
        key_prefixes=(*SAGA_KEY_PREFIXES, IDEMPOTENCY_KEY_PREFIX),
    )
    return {f"{v.rule} {v.subject}: {v.detail}" for v in report.violations}
