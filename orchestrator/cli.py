"""`saga`: operate student onboarding sagas from a terminal.

start, status, list and retry go through the orchestrator's HTTP API (`--api-url`, default
$SAGA_API_URL, else the API's own host and port settings) with the key $SAGA_API_KEY (or from
the .env `make up` writes), so the CLI starts and sees exactly what the API does, with its
validation, errors and authorization. reset and replay need what only Temporal
offers (the reset API, histories) and connect to it with the worker's settings
(`--address`/$TEMPORAL_ADDRESS, `--namespace`/$TEMPORAL_NAMESPACE).

Exit codes: 0 done; 1 refused (the API's problem detail, or a history that does not replay);
2 bad usage; 3 nothing matched (a bulk retry or replay that touched nothing); 4 the API or
Temporal cannot be reached.
"""

import asyncio
import os
from collections.abc import Mapping
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from orchestrator import histories, invariants, recovery
from orchestrator.config import ApiClientSettings, OrchestratorSettings
from orchestrator.intake import cli as intake_cli
from orchestrator.process_exit import run_and_exit
from orchestrator.sagas import SagaNotFound
from orchestrator.temporal import connect, workflow_ui_url
from workflows.contracts import SagaStatus, Step

EXIT_REFUSED = 1
EXIT_NOTHING_MATCHED = 3
EXIT_UNREACHABLE = 4

app = typer.Typer(
    help="Operate student onboarding sagas: start, inspect, retry, reset, replay.",
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
def status(student_id: str, api_url: ApiUrlOption = None) -> None:
    """The saga's live status: steps done, undone, and why it failed."""
    out.print(_fields(f"Saga of {student_id}", _call(api_url, "GET", f"/sagas/{student_id}")))


@app.command("list")
def list_sagas(
    saga_status: Annotated[
        SagaStatus | None, typer.Option("--status", help="Only sagas with this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    api_url: ApiUrlOption = None,
) -> None:
    """Sagas from Temporal visibility, newest first (one row per run)."""
    params: dict[str, Any] = {"limit": limit}
    if saga_status is not None:
        params["status"] = saga_status.value
    sagas = _call(api_url, "GET", "/sagas", params=params)
    table = Table(title=f"{len(sagas)} saga runs")
    for column in ("student", "course", "status", "started", "run id"):
        table.add_column(column, overflow="fold")
    for saga in sagas:
        table.add_row(
            saga["student_id"],
            saga["course_id"],
            saga["status"],
            saga["started_at"][:19],
            saga["run_id"],
        )
    out.print(table)


@app.command()
def retry(
    student_id: Annotated[str | None, typer.Argument(help="Retry this student's saga.")] = None,
    query: Annotated[
        str | None,
        typer.Option(help='Retry every saga a visibility query matches, e.g. SagaStatus="FAILED".'),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="With --query: only list what would run.")] = False,
    failed_step: Annotated[
        Step | None, typer.Option(help="With --query: only sagas that failed at this step.")
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
    if (student_id is None) == (query is None):
        raise typer.BadParameter("give either a STUDENT_ID or --query, not both or neither")
    if query is not None:
        if payment_token is not None or course_id is not None:
            raise typer.BadParameter("corrections apply to one saga, not to --query")
        body = {
            "query": query,
            "dry_run": dry_run,
            "limit": limit,
            "failed_step": failed_step,
            "reason_contains": reason_contains,
        }
        _retry_matching(api_url, body)
        return
    if dry_run or failed_step is not None or reason_contains is not None:
        raise typer.BadParameter("--dry-run, --failed-step and --reason-contains need --query")
    corrections = {"payment_token": payment_token, "course_id": course_id}
    body = {name: value for name, value in corrections.items() if value is not None}
    path = f"/sagas/{student_id}/retry"
    out.print(_fields("Saga retried", _call(api_url, "POST", path, json=body or None)))


def _retry_matching(api_url: str | None, body: dict[str, Any]) -> None:
    result = _call(api_url, "POST", "/sagas/retry", json=body)
    title = ("Dry run: " if body["dry_run"] else "") + f"sagas matching {body['query']}"
    table = Table(title=title)
    for column in ("student", "status", "action", "new run id", "reason"):
        table.add_column(column, overflow="fold")
    for saga in result["sagas"]:
        table.add_row(
            saga["student_id"],
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
    student_id: str,
    step: Annotated[Step, typer.Option(help="Run the saga again from the start of this step.")],
    reason: Annotated[str, typer.Option(help="Recorded in the history.")] = "reset by saga CLI",
    address: histories.AddressOption = None,
    namespace: histories.NamespaceOption = None,
) -> None:
    """Reset the saga's latest run to the start of a step (Temporal's reset API)."""
    settings = histories.settings_for(address, namespace)
    try:
        run = asyncio.run(_reset(settings, student_id, step, reason))
    except (SagaNotFound, recovery.SagaNotResettable) as error:
        _fail(EXIT_REFUSED, str(error))
    except RuntimeError as error:  # how temporalio reports a server it cannot connect to
        _fail(EXIT_UNREACHABLE, f"cannot reach Temporal at {settings.temporal_address}: {error}")
    out.print(
        _fields(
            f"Saga of {student_id} reset to {step}",
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
    settings: OrchestratorSettings, student_id: str, step: Step, reason: str
) -> recovery.NewRun:
    client = await connect(settings)
    return await recovery.reset_saga(client, student_id, step, reason)


app.command("replay")(histories.replay_command)
app.command("check")(invariants.check_command)
app.add_typer(intake_cli.app)  # publish-student, intake dead-letters, intake redrive


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench(context: typer.Context) -> None:
    """The benchmark (`make bench`): orchestration, choreography and the floor on fresh local
    stacks; every option of `saga bench --help` is python -m bench's."""
    # Imported here: the benchmark and its plotting are development tools, not in the image.
    from bench.__main__ import app as bench_app

    bench_app(args=context.args, prog_name="saga bench")


def main() -> None:
    run_and_exit(app)


if __name__ == "__main__":
    main()
