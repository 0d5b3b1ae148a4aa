"""`saga`: operate sagas (student onboarding, course transfer) from a terminal.

start, transfer, status, list, retry and resume-compensation go through the orchestrator's HTTP
API (`--api-url`, default $SAGA_API_URL, else the API's own host and port settings) with the
key $SAGA_API_KEY (or from the .env `make up` writes), so the CLI starts and sees exactly what
the API does, with its validation, errors and authorization. reset and replay need what only
Temporal offers (the reset API, histories) and connect to it with the worker's settings
(`--address`/$TEMPORAL_ADDRESS, `--namespace`/$TEMPORAL_NAMESPACE).

`saga choreography dead-letters | redrive | rebuild-tracker` are `python -m choreography`'s
commands, the same Typer app (choreography/cli.py says how they find the broker).

Exit codes: 0 done; 1 refused (the API's problem detail, or a history that does not replay);
2 bad usage; 3 nothing matched (a bulk retry or replay that touched nothing, a redrive that
found no dead letter); 4 the API, Temporal or the broker cannot be reached.
"""

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from choreography import cli as choreography_cli
from orchestrator import recovery
from orchestrator.config import ApiClientSettings, OrchestratorSettings
from orchestrator.intake import cli as intake_cli
from orchestrator.ops import histories, invariants
from orchestrator.process_exit import run_and_exit
from orchestrator.sagas import SagaNotFound
from orchestrator.temporal import connect, data_converter, workflow_ui_url
from sagas import FailureKind, SagaStatus
from workflows.contracts import SagaCorrections, Step
from workflows.registry import ALL_SAGAS

EXIT_REFUSED = 1
EXIT_NOTHING_MATCHED = 3
EXIT_UNREACHABLE = 4

QueryOption = Annotated[str, typer.Option(help="Visibility query selecting the runs.")]
LimitOption = Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")]
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else 127.0.0.1:7233)."
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(help="Temporal namespace (default: $TEMPORAL_NAMESPACE, else default)."),
]


def settings_for(address: str | None, namespace: str | None) -> OrchestratorSettings:
    settings = OrchestratorSettings()
    return settings.model_copy(
        update={
            "temporal_address": address or settings.temporal_address,
            "temporal_namespace": namespace or settings.temporal_namespace,
        }
    )


T = TypeVar("T")

app = typer.Typer(
    help="Operate sagas: start, transfer, inspect, retry, resume, reset, replay, check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _default_api_url() -> str:
    return os.environ.get("SAGA_API_URL") or OrchestratorSettings().api_base_url()


ApiUrlOption = Annotated[
    str | None,
    typer.Option(help="Orchestrator API base URL (default: $SAGA_API_URL, else $HOST:$PORT)."),
]


def _api(api_url: str | None) -> httpx.Client:
    return httpx.Client(
        base_url=api_url or _default_api_url(), headers=ApiClientSettings().headers(), timeout=30
    )


def _call(api_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """The API's JSON answer; a problem or an unreachable API ends the command."""
    with _api(api_url) as api:
        try:
            response = api.request(method, path, **kwargs)
        except httpx.TransportError as error:
            _fail(EXIT_UNREACHABLE, f"cannot reach the API at {api.base_url}: {error}")
    if response.is_error:
        problem = _problem(response)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            problem += " (set SAGA_API_KEY to one of the API's API_KEYS)"
        _fail(EXIT_REFUSED, f"{response.status_code} {problem}")
    return response.json()


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    text = f"{body.get('title', '')}: {detail}" if isinstance(body, dict) else str(body)
    if errors:
        text += "".join(f"\n  {e.get('field')}: {e.get('message')}" for e in errors)
    return text


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _fields(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in values.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(name, "" if shown is None else str(shown))
    return table


@app.command()
def start(
    name: Annotated[str, typer.Option(help="The student's name.")],
    email: Annotated[str, typer.Option(help="The student's email.")],
    course_id: Annotated[str, typer.Option(help="Course to enroll in, e.g. CS101.")],
    payment_token: Annotated[str, typer.Option(help="Payment token, e.g. tok_visa.")],
    student_id: Annotated[str | None, typer.Option(help="Default: generated.")] = None,
    api_url: ApiUrlOption = None,
) -> None:
    """Post a 'student created' event: start the student's onboarding saga."""
    body = {"name": name, "email": email, "course_id": course_id, "payment_token": payment_token}
    if student_id is not None:
        body["student_id"] = student_id
    out.print(_fields("Saga started", _call(api_url, "POST", "/students", json=body)))


@app.command()
def transfer(
    student_id: Annotated[str, typer.Option(help="The student who moves.")],
    from_course: Annotated[str, typer.Option(help="The course they leave (CONFIRMED in it).")],
    to_course: Annotated[str, typer.Option(help="The course they move to.")],
    payment_token: Annotated[
        str, typer.Option(help="Charged if the new course costs more, e.g. tok_visa.")
    ],
    api_url: ApiUrlOption = None,
) -> None:
    """Start a course transfer saga for a student with a confirmed enrollment."""
    body = {
        "student_id": student_id,
        "from_course_id": from_course,
        "to_course_id": to_course,
        "payment_token": payment_token,
    }
    out.print(_fields("Transfer started", _call(api_url, "POST", "/transfers", json=body)))


SagaIdArgument = Annotated[
    str, typer.Argument(help="The saga's id: a student id for onboarding, transfer~<student id>.")
]


@app.command()
def status(saga_id: SagaIdArgument, api_url: ApiUrlOption = None) -> None:
    """The saga's live status: steps done, undone, and why it failed."""
    state = _call(api_url, "GET", f"/sagas/{saga_id}")
    ledger = state.pop("ledger", [])
    state["failure"] = _failure(state.get("failure"))
    state["undo_failure"] = _failure(state.get("undo_failure"))
    out.print(_fields(f"Saga {saga_id}", state))
    if ledger:
        table = Table(title="Steps and undos")
        for column in ("step", "role", "outcome", "summary", "reason"):
            table.add_column(column, overflow="fold")
        for entry in ledger:
            table.add_row(
                entry["name"], entry["role"], entry["outcome"], entry["summary"], entry["reason"]
            )
        out.print(table)


def _failure(failure: dict[str, Any] | None) -> str | None:
    if failure is None:
        return None
    return f"{failure['kind']} at {failure['step']}: {failure['reason']}"


@app.command("resume-compensation")
def resume_compensation(saga_id: SagaIdArgument, api_url: ApiUrlOption = None) -> None:
    """Resume the unwind of a COMPENSATION_FAILED saga once the rejected undo's cause is fixed."""
    state = _call(api_url, "POST", f"/sagas/{saga_id}/resume-compensation")
    out.print(f"Compensation of {saga_id} resumed; status now {state['status']}.")


@app.command("list")
def list_sagas(
    saga_status: Annotated[
        SagaStatus | None, typer.Option("--status", help="Only sagas with this status.")
    ] = None,
    saga_type: Annotated[
        str | None,
        typer.Option(
            "--type", help="Only sagas of this type: student-onboarding, course-transfer."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    api_url: ApiUrlOption = None,
) -> None:
    """Sagas from Temporal visibility, newest first (one row per run)."""
    params: dict[str, Any] = {"limit": limit}
    if saga_status is not None:
        params["status"] = saga_status.value
    if saga_type is not None:
        params["type"] = saga_type
    sagas = _call(api_url, "GET", "/sagas", params=params)
    table = Table(title=f"{len(sagas)} saga runs")
    for column in ("saga", "type", "course", "status", "started", "run id"):
        table.add_column(column, overflow="fold")
    for saga in sagas:
        table.add_row(
            saga["saga_id"],
            saga["saga_type"],
            saga["course_id"],
            saga["status"],
            saga["started_at"][:19],
            saga["run_id"],
        )
    out.print(table)


@app.command()
def retry(
    saga_id: Annotated[str | None, typer.Argument(help="Retry this saga.")] = None,
    query: Annotated[
        str | None,
        typer.Option(help='Retry every saga a visibility query matches, e.g. SagaStatus="FAILED".'),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="With --query: only list what would run.")] = False,
    failed_step: Annotated[
        Step | None, typer.Option(help="With --query: only sagas that failed at this step.")
    ] = None,
    failure_kind: Annotated[
        FailureKind | None, typer.Option(help="With --query: only sagas that failed this way.")
    ] = None,
    reason_contains: Annotated[
        str | None,
        typer.Option(help="With --query: only sagas whose failure reason contains this text."),
    ] = None,
    payment_token: Annotated[str | None, typer.Option(help="Corrected payment token.")] = None,
    course_id: Annotated[str | None, typer.Option(help="Corrected course.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="With --query.")] = 100,
    api_url: ApiUrlOption = None,
) -> None:
    """Start a new run of a COMPENSATED or FAILED saga (one, or all a query matches)."""
    if (saga_id is None) == (query is None):
        raise typer.BadParameter("give either a SAGA_ID or --query, not both or neither")
    if query is not None:
        if payment_token is not None or course_id is not None:
            raise typer.BadParameter("corrections apply to one saga, not to --query")
        body = {
            "query": query,
            "dry_run": dry_run,
            "limit": limit,
            "failed_step": failed_step,
            "failure_kind": failure_kind,
            "reason_contains": reason_contains,
        }
        _retry_matching(api_url, body)
        return
    if dry_run or failed_step or failure_kind or reason_contains:
        raise typer.BadParameter(
            "--dry-run, --failed-step, --failure-kind and --reason-contains need --query"
        )
    # Not validated here: the API answers an invalid correction with its 422 problem.
    corrections = SagaCorrections.model_construct(payment_token=payment_token, course_id=course_id)
    changes = corrections.changes()
    path = f"/sagas/{saga_id}/retry"
    out.print(_fields("Saga retried", _call(api_url, "POST", path, json=changes or None)))


def _retry_matching(api_url: str | None, body: dict[str, Any]) -> None:
    result = _call(api_url, "POST", "/sagas/retry", json=body)
    title = ("Dry run: " if body["dry_run"] else "") + f"sagas matching {body['query']}"
    table = Table(title=title)
    for column in ("saga", "status", "action", "new run id", "reason"):
        table.add_column(column, overflow="fold")
    for saga in result["sagas"]:
        table.add_row(
            saga["saga_id"],
            saga["saga_status"],
            saga["action"],
            saga["run_id"] or "",
            saga["reason"] or "",
        )
    out.print(table)
    out.print(
        f"{result['retried']} retried, {result['would_retry']} would be retried, "
        f"{result['skipped']} skipped."
    )
    if not result["sagas"]:
        _fail(EXIT_NOTHING_MATCHED, "nothing matched the query")


@app.command()
def reset(
    saga_id: SagaIdArgument,
    step: Annotated[Step, typer.Option(help="Run the saga again from the start of this step.")],
    reason: Annotated[str, typer.Option(help="Recorded in the history.")] = "reset by saga CLI",
    address: AddressOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Reset the saga's latest run to the start of a step (Temporal's reset API)."""
    settings = settings_for(address, namespace)
    try:
        run = asyncio.run(_reset(settings, saga_id, step, reason))
    except (SagaNotFound, recovery.SagaNotResettable) as error:
        _fail(EXIT_REFUSED, str(error))
    except RuntimeError as error:  # how temporalio reports a server it cannot connect to
        _fail(EXIT_UNREACHABLE, f"cannot reach Temporal at {settings.temporal_address}: {error}")
    out.print(
        _fields(
            f"Saga {saga_id} reset to {step}",
            {
                "workflow_id": run.workflow_id,
                "previous_run_id": run.previous_run_id,
                "run_id": run.run_id,
                "temporal_ui_url": workflow_ui_url(settings, run.workflow_id, run.run_id),
            },
        )
    )


# The client lives only inside this coroutine (see orchestrator/process_exit.py).
async def _reset(
    settings: OrchestratorSettings, saga_id: str, step: Step, reason: str
) -> recovery.NewRun:
    client = await connect(settings)
    return await recovery.reset_saga(client, saga_id, step, reason)


def replay_command(
    query: QueryOption = ALL_SAGAS,
    limit: LimitOption = 50,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            exists=True,
            file_okay=False,
            help="Replay the JSON files under this directory instead of asking a server.",
        ),
    ] = None,
    address: AddressOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Replay recent histories from a server (or files) on this build; fail on nondeterminism."""
    settings = settings_for(address, namespace)
    if directory is not None:
        converter = data_converter(settings.parsed_payload_keys())
        outcomes = asyncio.run(
            histories.replay(
                histories.from_files(histories.history_files(directory), directory), converter
            )
        )
    else:
        outcomes = asyncio.run(_replay_from_server(settings, query, limit))
    for outcome in outcomes:
        if outcome.failure is None:
            typer.echo(f"ok    {outcome.workflow_id} {outcome.run_id}")
        else:
            failure = f"{type(outcome.failure).__name__}: {outcome.failure}"
            typer.echo(f"FAIL  {outcome.workflow_id} {outcome.run_id}: {failure}")
    failed = sum(not outcome.replayed for outcome in outcomes)
    typer.echo(f"{len(outcomes)} histories replayed, {failed} not replayable on this build.")
    if not outcomes:
        typer.echo("Nothing matched: nothing was checked.", err=True)
        raise typer.Exit(EXIT_NOTHING_MATCHED)
    if failed:
        raise typer.Exit(EXIT_REFUSED)


def export_command(
    out: Annotated[Path, typer.Option(file_okay=False, help="Directory to write into.")],
    query: QueryOption = ALL_SAGAS,
    limit: LimitOption = 50,
    address: AddressOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Save the histories of the runs a query matches as JSON files, e.g. for replay tests."""
    saved = asyncio.run(_export_from_server(settings_for(address, namespace), query, limit, out))
    for path in saved:
        typer.echo(str(path))
    typer.echo(f"{len(saved)} histories saved in {out}.")
    if not saved:
        raise typer.Exit(EXIT_NOTHING_MATCHED)


# The client lives only inside these coroutines: temporalio has no Client.close(), so its last
# reference is dropped when they return, before the process exits (orchestrator/process_exit.py).
async def _replay_from_server(
    settings: OrchestratorSettings, query: str, limit: int
) -> list[histories.ReplayOutcome]:
    client = await connect(settings)
    return await histories.replay(
        histories.from_server(client, query, limit), client.data_converter
    )


async def _export_from_server(
    settings: OrchestratorSettings, query: str, limit: int, out: Path
) -> list[Path]:
    client = await connect(settings)
    return await histories.export_from_server(client, query, limit, out)


def check_command(
    allow_running: Annotated[
        bool,
        typer.Option(
            "--allow-running", help="Do not report sagas still running (the system is not quiet)."
        ),
    ] = False,
    address: AddressOption = None,
    namespace: NamespaceOption = None,
    enrollment_url: Annotated[
        str | None, typer.Option(help="Default: $ENROLLMENT_URL, else http://127.0.0.1:8001.")
    ] = None,
    billing_url: Annotated[
        str | None, typer.Option(help="Default: $BILLING_URL, else http://127.0.0.1:8002.")
    ] = None,
) -> None:
    """Check every saga in Temporal against the services' state; exit 1 on any violation."""
    settings = settings_for(address, namespace)
    settings = settings.model_copy(
        update={
            "enrollment_url": enrollment_url or settings.enrollment_url,
            "billing_url": billing_url or settings.billing_url,
        }
    )
    console = Console()
    try:
        report = asyncio.run(_check(settings, expect_quiet=not allow_running))
    except RuntimeError as error:  # how temporalio reports a server it cannot connect to
        console.print(f"cannot reach Temporal at {settings.temporal_address}: {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    except httpx.HTTPError as error:
        console.print(f"cannot read the services: {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    invariants.print_report(report, console)
    if not report.ok:
        raise typer.Exit(EXIT_REFUSED)


# The client lives only inside this coroutine (see orchestrator/process_exit.py).
async def _check(settings: OrchestratorSettings, expect_quiet: bool) -> invariants.Report:
    return await invariants.check(await connect(settings), settings, expect_quiet=expect_quiet)


app.command("replay")(replay_command)
app.command("export")(export_command)
app.command("check")(check_command)
app.add_typer(intake_cli.app)  # publish-student, intake dead-letters, intake redrive

# dead-letters, redrive, rebuild-tracker: python -m choreography's commands, the same app.
app.add_typer(choreography_cli.app, name="choreography")


def main() -> None:
    run_and_exit(app)


if __name__ == "__main__":
    run_and_exit(app)
