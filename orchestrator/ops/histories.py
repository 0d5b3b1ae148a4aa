"""Workflow histories as a determinism check: save them as JSON, replay them on this build.

Replaying runs the current code of every saga type (workflows/registry.py) over a recorded
history without calling any service. If the code now issues other commands than the history
recorded (a step added, removed or reordered without `workflow.patched`), the replay fails with
a nondeterminism error: a worker with that code would get stuck on every saga still running.
Check before deploying:

    python -m orchestrator.ops.histories replay            # every saga type's recent runs
    python -m orchestrator.ops.histories replay --dir tests/histories
    python -m orchestrator.ops.histories export --query 'SagaStatus="FAILED"' --out failed/

Histories of an encrypted deployment replay with its PAYLOAD_KEYS in the environment (the same
setting the worker reads); plaintext histories replay with or without them.

Exit codes: 0 all replayed, 1 a history did not replay, 3 nothing matched (a check that checked
nothing is not a pass), 2 bad usage.
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from orchestrator.config import OrchestratorSettings
from orchestrator.process_exit import run_and_exit
from orchestrator.temporal import connect, data_converter, workflow_runner
from workflows.registry import ALL_SAGAS, WORKFLOWS

EXIT_NOT_REPLAYABLE = 1
EXIT_NOTHING_TO_REPLAY = 3


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str  # for a history read from a file: the file's path
    run_id: str
    failure: Exception | None

    @property
    def replayed(self) -> bool:
        return self.failure is None


def replayer(converter: DataConverter = pydantic_data_converter) -> Replayer:
    """A replayer with the workflows the worker runs; `converter` must hold the payload keys
    of encrypted histories (plaintext ones replay with or without keys)."""
    return Replayer(
        workflows=WORKFLOWS,
        data_converter=converter,
        workflow_runner=workflow_runner(),
    )


async def replay(
    histories: AsyncIterator[WorkflowHistory], converter: DataConverter = pydantic_data_converter
) -> list[ReplayOutcome]:
    """Replay every history on the current workflow code; one outcome per history."""
    outcomes = []
    async with replayer(converter).workflow_replay_iterator(histories) as results:
        async for result in results:
            history = result.history
            outcomes.append(
                ReplayOutcome(history.workflow_id, history.run_id, result.replay_failure)
            )
    return outcomes


def history_files(directory: Path) -> list[Path]:
    """The JSON histories under `directory`, subdirectories included, in a stable order."""
    return sorted(directory.rglob("*.json"))


def load_history(path: Path, root: Path | None = None) -> WorkflowHistory:
    """A history saved by `save_history`, the Temporal CLI or the Web UI's download. The files
    carry no workflow id; the path (relative to `root`) stands in for it in reports."""
    label = path.relative_to(root).as_posix() if root else path.as_posix()
    try:
        return WorkflowHistory.from_json(label, path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not a workflow history: {error}") from error


def save_history(history: WorkflowHistory, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(history.to_json() + "\n")


async def from_files(
    paths: Iterable[Path], root: Path | None = None
) -> AsyncIterator[WorkflowHistory]:
    for path in paths:
        yield load_history(path, root)


def from_server(client: Client, query: str, limit: int) -> AsyncIterator[WorkflowHistory]:
    """The histories of the newest `limit` runs matching a visibility query."""
    return client.list_workflows(query, limit=limit).map_histories()


async def export_from_server(client: Client, query: str, limit: int, out: Path) -> list[Path]:
    """Save the histories of the runs matching `query` as `<out>/<workflow id>.<run id>.json`."""
    saved = []
    async for history in from_server(client, query, limit):
        path = out / f"{history.workflow_id}.{history.run_id}.json"
        save_history(history, path)
        saved.append(path)
    return saved


app = typer.Typer(
    help="Replay saga histories on this build's workflow code, or export them as JSON.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


@app.command("replay")
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
        outcomes = asyncio.run(replay(from_files(history_files(directory), directory), converter))
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
        raise typer.Exit(EXIT_NOTHING_TO_REPLAY)
    if failed:
        raise typer.Exit(EXIT_NOT_REPLAYABLE)


@app.command("export")
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
        raise typer.Exit(EXIT_NOTHING_TO_REPLAY)


def settings_for(address: str | None, namespace: str | None) -> OrchestratorSettings:
    settings = OrchestratorSettings()
    return settings.model_copy(
        update={
            "temporal_address": address or settings.temporal_address,
            "temporal_namespace": namespace or settings.temporal_namespace,
        }
    )


# The client lives only inside these coroutines: temporalio has no Client.close(), so its last
# reference is dropped when they return, before the process exits (orchestrator/process_exit.py).
async def _replay_from_server(
    settings: OrchestratorSettings, query: str, limit: int
) -> list[ReplayOutcome]:
    client = await connect(settings)
    return await replay(from_server(client, query, limit), client.data_converter)


async def _export_from_server(
    settings: OrchestratorSettings, query: str, limit: int, out: Path
) -> list[Path]:
    client = await connect(settings)
    return await export_from_server(client, query, limit, out)


def main() -> None:
    run_and_exit(app)


if __name__ == "__main__":
    main()
