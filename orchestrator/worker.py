"""The worker process: `python -m orchestrator.worker` runs the saga workflow and activities."""

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from orchestrator.activities import SagaActivities
from orchestrator.clients import BillingClient, EnrollmentClient, create_http_client
from orchestrator.config import OrchestratorSettings
from orchestrator.temporal import connect
from workflows.saga import StudentOnboardingSaga

log = logging.getLogger("orchestrator.worker")


@asynccontextmanager
async def saga_worker(client: Client, settings: OrchestratorSettings) -> AsyncIterator[Worker]:
    """A running worker for the saga, with its HTTP clients; stopped and closed on exit."""
    async with (
        create_http_client(settings.enrollment_url, settings) as enrollment_http,
        create_http_client(settings.billing_url, settings) as billing_http,
    ):
        activities = SagaActivities(EnrollmentClient(enrollment_http), BillingClient(billing_http))
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[StudentOnboardingSaga],
            activities=activities.all(),
        )
        async with worker:
            yield worker


async def run(settings: OrchestratorSettings) -> None:
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with saga_worker(client, settings):
        log.info(
            "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
        )
        await stop.wait()
    log.info("worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(OrchestratorSettings()))


if __name__ == "__main__":
    main()
