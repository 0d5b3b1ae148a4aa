"""Workflow histories as a determinism check: save them as JSON, replay them on this build.

Replaying runs the current code of every saga type (workflows/registry.py) over a recorded
history without calling any service. If the code now issues other commands than the history
recorded (a step added, removed or reordered without `workflow.patched`), the replay fails with
a nondeterminism error: a worker with that code would get stuck on every saga still running.
Check before deploying (the `saga` CLI's commands, orchestrator/ops/cli.py):

    saga replay                          # every saga type's recent runs
    saga replay --dir tests/histories
    saga export --query 'SagaStatus="FAILED"' --out failed/

Histories of an encrypted deployment replay with its PAYLOAD_KEYS in the environment (the same
setting the worker reads); plaintext histories replay with or without them.
"""

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from orchestrator.temporal import workflow_runner
from workflows.registry import WORKFLOWS


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
