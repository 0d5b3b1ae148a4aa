"""The floors: bare Temporal workflows running as many no-op steps as the saga has, on a worker
with default settings. Whatever the saga costs above a floor is the saga's own.

- `FloorWorkflow` runs each no-op as a regular activity (23 history events).
- `FloorLocalWorkflow` runs each as a local activity with the saga kit's local-try settings,
  the shape the orchestrated saga's steps take when their services answer at once.

    python -m bench.floor --address 127.0.0.1:7233 --task-queue bench-floor
"""

import argparse
import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from orchestrator.process_exit import run_and_exit

with workflow.unsafe.imports_passed_through():
    from sagas import SagaDeadlines

FLOOR_STEPS = 3  # reserve seat, charge tuition, confirm enrollment


@activity.defn(name="floor_step")
async def floor_step(step: int) -> int:
    return step


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(
                floor_step, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return steps


# One attempt and no retries, as the kit's local try (a no-op does not fail anyway).
LOCAL_TRY_RETRIES = RetryPolicy(maximum_attempts=1)


@workflow.defn
class FloorLocalWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        # The deadlines an onboarding saga starts with by default (workflows.contracts).
        timeout = timedelta(seconds=SagaDeadlines().local_try_seconds())
        for step in range(steps):
            await workflow.execute_local_activity(
                floor_step, step, start_to_close_timeout=timeout, retry_policy=LOCAL_TRY_RETRIES
            )
        return steps


async def serve(address: str, namespace: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, FloorLocalWorkflow],
        activities=[floor_step],
    )
    await worker.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.address, arguments.namespace, arguments.task_queue))


if __name__ == "__main__":
    run_and_exit(main)
