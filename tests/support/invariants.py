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

from choreography.events import FIRST_RUN, IDEMPOTENCY_KEY_PREFIX, saga_key_prefix
from choreography.sagas import ChoreographedSaga
from choreography.tracker import all_views
from common.database import create_database_engine
from orchestrator.invariants import Saga, evaluate, list_sagas
from workflows.contracts import TERMINAL_STATUSES, WORKFLOW_ID_PREFIX, SagaStatus


def choreographed_sagas(api_database_url: str) -> list[Saga]:
    engine = create_database_engine(api_database_url)
    try:
        views = all_views(engine)
        with Session(engine) as session:
            registered = [
                (row.student_id, row.run) for row in session.exec(select(ChoreographedSaga))
            ]
    finally:
        engine.dispose()
    sagas = []
    for student_id, latest_run in registered:
        view = views.get(student_id)
        status = view.status if view is not None else SagaStatus.RUNNING
        # A run is retried only once compensated: every run before the latest one is.
        for run in range(FIRST_RUN, latest_run + 1):
            run_status = status if run == latest_run else SagaStatus.COMPENSATED
            finished = run_status in TERMINAL_STATUSES
            sagas.append(
                Saga(
                    workflow_id=saga_key_prefix(student_id, run).removesuffix(":"),
                    key_prefix=saga_key_prefix(student_id, run),
                    execution_status=(
                        WorkflowExecutionStatus.COMPLETED
                        if finished
                        else WorkflowExecutionStatus.RUNNING
                    ),
                    status=run_status,
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
        key_prefixes=(WORKFLOW_ID_PREFIX, IDEMPOTENCY_KEY_PREFIX),
    )
    return {f"{v.rule} {v.subject}: {v.detail}" for v in report.violations}
