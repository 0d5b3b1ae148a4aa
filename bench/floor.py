"""The floor: a bare Temporal workflow running as many no-op activities as the saga has steps,
on a worker with default settings. Whatever the saga costs above this is the saga's own.

    python -m bench.floor --address 127.0.0.1:7233 --task-queue bench-floor
"""

import argparse
import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

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


async def serve(address: str, namespace: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    worker = Worker(
        client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[floor_step]
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
    main()
