"""What the saga's extras cost Temporal: the dev server's CPU per workflow for floor-local's shape
(three no-op local activities) plain, with the onboarding saga's search attributes at start and
its status upsert at the end, with its static summary too, and with its sealed payloads too;
interleaved rounds on one headless dev server with the options `make up` gives it (search
attributes, SQLite pragmas, dynamic config: devstack/components.py; tuning log,
docs/benchmarks.md, entry 27).

    .venv/bin/python -m scripts.temporal_extras_cpu [--workflows N] [--rounds R]

Only the server is measured: the worker runs in this process, without the sandbox.
"""

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.measure import sample
from common.payload_keys import new_key_entry, parse_keys
from devstack.components import TEMPORAL_CLI, temporal_server_options
from devstack.config import free_ports
from orchestrator.process_exit import run_and_exit
from orchestrator.temporal import data_converter
from sagas.visibility import SAGA_STATUS, SAGA_TYPE
from workflows.visibility import COURSE_ID, STUDENT_ID

VARIANTS = ("plain", "attributes", "summary", "sealed")
CONCURRENCY = 100


@activity.defn
async def no_op(step: int) -> int:
    return step


@workflow.defn
class ThreeLocalSteps:
    @workflow.run
    async def run(self, upsert_status: bool) -> None:
        for step in range(3):
            await workflow.execute_local_activity(
                no_op,
                step,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        if upsert_status:
            workflow.upsert_search_attributes([SAGA_STATUS.value_set("COMPLETED")])


def _start_options(variant: str, student_id: str) -> dict[str, Any]:
    """What the API passes at start for the variant (orchestrator/sagas.py `start`)."""
    if variant == "plain":
        return {}
    attributes = [
        SearchAttributePair(SAGA_TYPE, "onboarding"),
        SearchAttributePair(SAGA_STATUS, "RUNNING"),
        SearchAttributePair(STUDENT_ID, student_id),
        SearchAttributePair(COURSE_ID, "CS101"),
    ]
    options: dict[str, Any] = {"search_attributes": TypedSearchAttributes(attributes)}
    if variant != "attributes":
        options["static_summary"] = f"Onboarding of {student_id} into CS101"
    return options


async def _run_batch(client: Client, variant: str, count: int) -> None:
    admitted = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with admitted:
            student_id = f"stu-{uuid.uuid4().hex[:12]}"
            await client.execute_workflow(
                ThreeLocalSteps.run,
                variant != "plain",
                id=f"{variant}-{student_id}",
                task_queue=variant,
                **_start_options(variant, student_id),
            )

    await asyncio.gather(*(one() for _ in range(count)))


async def _connect(address: str, sealed: bool) -> Client:
    converter = data_converter(parse_keys(new_key_entry("price")) if sealed else None)
    for _ in range(100):
        try:
            return await Client.connect(address, data_converter=converter)
        except RuntimeError:
            await asyncio.sleep(0.3)
    raise RuntimeError(f"no Temporal server at {address}")


async def measure(workflows: int, rounds: int) -> dict[str, list[float]]:
    port, ui_port = free_ports(2)
    with tempfile.TemporaryDirectory() as data_dir:
        command = [
            str(TEMPORAL_CLI), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--ui-port", str(ui_port), "--db-filename", f"{data_dir}/temporal.db",
            "--log-level", "warn", "--headless",
            *temporal_server_options(),
        ]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            address = f"127.0.0.1:{port}"
            clients = {
                variant: await _connect(address, variant == "sealed") for variant in VARIANTS
            }
            workers = [
                Worker(
                    clients[variant],
                    task_queue=variant,
                    workflows=[ThreeLocalSteps],
                    activities=[no_op],
                    workflow_runner=UnsandboxedWorkflowRunner(),
                )
                for variant in VARIANTS
            ]
            for worker in workers:
                await worker.__aenter__()
            try:
                for variant in VARIANTS:  # warm-up
                    await _run_batch(clients[variant], variant, 50)
                figures: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
                for round_ in range(rounds):
                    for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
                        before = sample(server.pid).cpu_seconds
                        await _run_batch(clients[variant], variant, workflows)
                        spent = sample(server.pid).cpu_seconds - before
                        figures[variant].append(1000 * spent / workflows)
                return figures
            finally:
                for worker in workers:
                    await worker.__aexit__(None, None, None)
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6)
    arguments = parser.parse_args()
    figures = asyncio.run(measure(arguments.workflows, arguments.rounds))
    for variant, values in figures.items():
        ratios = [value / plain for value, plain in zip(values, figures["plain"], strict=True)]
        print(
            f"{variant:10s} Temporal CPU ms per workflow: {' '.join(f'{v:.2f}' for v in values)}"
            f"  to plain: {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
        )


if __name__ == "__main__":
    run_and_exit(main)
