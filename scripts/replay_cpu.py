"""CPU per in-process replay of recorded histories, in the SDK's sandbox and in the worker's
(orchestrator/sandbox.py), interleaved: a measure of the worker's per-workflow-task cost with
no server, services or network in it (tuning log, docs/benchmarks.md, entry 20).

    .venv/bin/python -m scripts.replay_cpu [--replays N] [--rounds R] [HISTORY ...]

Default histories: tests/histories/completed.json and declined.json.
"""

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from orchestrator.ops.histories import load_history
from orchestrator.process_exit import run_and_exit
from orchestrator.sandbox import CompiledEntrySandboxedWorkflowRunner
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"
RESTRICTIONS = SandboxRestrictions.default.with_passthrough_all_modules()
RUNNERS: dict[str, type[SandboxedWorkflowRunner]] = {
    "sdk": SandboxedWorkflowRunner,
    "worker": CompiledEntrySandboxedWorkflowRunner,
}


async def cpu_ms_per_replay(runner: SandboxedWorkflowRunner, paths: list[Path], n: int) -> float:
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner
    )
    histories = [load_history(path) for path in paths]
    for history in histories:  # the first replay of a type imports and validates it
        await replayer.replay_workflow(history)
    started = time.process_time()
    for _ in range(n):
        for history in histories:
            await replayer.replay_workflow(history)
    return (time.process_time() - started) * 1000 / (n * len(histories))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("histories", nargs="*", type=Path)
    parser.add_argument("--replays", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    paths = arguments.histories or [HISTORIES / "completed.json", HISTORIES / "declined.json"]
    figures: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for _ in range(arguments.rounds):
        for name, runner in RUNNERS.items():
            replay = cpu_ms_per_replay(runner(RESTRICTIONS), paths, arguments.replays)
            figures[name].append(asyncio.run(replay))
    for name, values in figures.items():
        print(f"{name:7s} CPU ms per replay: {' '.join(f'{value:.2f}' for value in values)}")
    ratios = [worker / sdk for sdk, worker in zip(figures["sdk"], figures["worker"], strict=True)]
    print(f"worker/sdk: {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    run_and_exit(main)
