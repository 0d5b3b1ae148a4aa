"""The invariant checker on a running system: `await check(client, settings)` reads the sagas
from Temporal (visibility) and, with BROKER_URL, the choreographed ones from the tracker; the
services' state through their public HTTP APIs only; and applies the rules
(orchestrator/ops/invariant_rules.py). `saga check` prints the report (print_report) and exits 1
on any violation, 4 if Temporal or a service cannot be reached."""

import asyncio
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, inspect
from temporalio.client import Client, WorkflowExecutionStatus

from choreography.events import IDEMPOTENCY_KEY_PREFIX
from choreography.invariants import saga_runs
from common.database import create_database_engine
from orchestrator.config import OrchestratorSettings
from orchestrator.ops.invariant_rules import SAGA_KEY_PREFIXES, Report, Saga, evaluate
from sagas.visibility import SAGA_STATUS
from workflows import registry

HTTP_TIMEOUT_SECONDS = 30.0


async def check(
    client: Client, settings: OrchestratorSettings, *, expect_quiet: bool = True
) -> Report:
    """Every violation, of every saga on the server and all the services' state.
    With `expect_quiet=False`, running sagas are neither violations nor checked."""
    # With BROKER_URL, the choreographed sagas too: from the tracker in the API's database.
    choreography = settings.broker_url is not None
    prefixes = (*SAGA_KEY_PREFIXES, IDEMPOTENCY_KEY_PREFIX) if choreography else SAGA_KEY_PREFIXES
    async with (
        httpx.AsyncClient(base_url=settings.enrollment_url, timeout=HTTP_TIMEOUT_SECONDS) as enr,
        httpx.AsyncClient(base_url=settings.billing_url, timeout=HTTP_TIMEOUT_SECONDS) as bill,
    ):
        sagas, courses, enrollments, charges = await asyncio.gather(
            list_sagas(client),
            _get(enr, "/courses"),
            _get(enr, "/enrollments"),
            # Every charge, not only the sagas': money is conserved over all of a student's.
            _get(bill, "/charges"),
        )
    if choreography:
        sagas += await asyncio.to_thread(_choreographed_sagas_of, settings)
    return evaluate(
        sagas, courses, enrollments, charges, expect_quiet=expect_quiet, key_prefixes=prefixes
    )


def choreographed_sagas(engine: Engine) -> list[Saga]:
    """Each run of each choreographed saga (choreography/invariants.py) as a Saga here: a
    finished one reads as a completed execution."""
    return [
        Saga(
            workflow_id=run.saga_id,
            key_prefix=run.key_prefix,
            execution_status=(
                WorkflowExecutionStatus.COMPLETED
                if run.finished
                else WorkflowExecutionStatus.RUNNING
            ),
            status=run.status,
        )
        for run in saga_runs(engine)
    ]


def _choreographed_sagas_of(settings: OrchestratorSettings) -> list[Saga]:
    engine = create_database_engine(settings.database_url_for_api())
    try:
        if not inspect(engine).has_table("choreographed_saga"):
            return []  # an API that never ran with a broker
        return choreographed_sagas(engine)
    finally:
        engine.dispose()


async def list_sagas(client: Client) -> list[Saga]:
    sagas = []
    async for execution in client.list_workflows(registry.ALL_SAGAS):
        first_run_id = execution.raw_info.first_run_id or execution.run_id
        saga_type = registry.for_workflow_id(execution.id) or registry.ONBOARDING
        sagas.append(
            Saga(
                workflow_id=execution.id,
                key_prefix=f"{execution.id}:{first_run_id}:",
                execution_status=execution.status,
                status=execution.typed_search_attributes.get(SAGA_STATUS),
                saga_type=saga_type.name,
            )
        )
    return sagas


async def _get(
    http: httpx.AsyncClient, path: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await http.get(path, params=params)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return rows


def print_report(report: Report, console: Console) -> None:
    summary = Table(title="Invariant check", show_header=False)
    for status, count in sorted(report.sagas_by_status.items()):
        summary.add_row(f"sagas {status}", str(count))
    summary.add_row("enrollments", str(report.enrollments))
    summary.add_row("charges", str(report.charges))
    summary.add_row("courses", str(report.courses))
    summary.add_row("violations", str(len(report.violations)))
    console.print(summary)
    if report.violations:
        table = Table(title="Violations")
        table.add_column("rule", style="red")
        table.add_column("saga or course")
        table.add_column("detail")
        for violation in report.violations:
            table.add_row(violation.rule, violation.subject, violation.detail)
        console.print(table)
