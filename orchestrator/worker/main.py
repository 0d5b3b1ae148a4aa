"""The worker process: `python -m orchestrator.worker` runs the saga workflow and activities."""

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvloop
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from common.logs import configure_logging
from common.tracing import create_tracer_provider
from orchestrator.clients import BillingClient, EnrollmentClient, create_http_client
from orchestrator.config import WorkerSettings
from orchestrator.process_exit import run_and_exit
from orchestrator.telemetry import SagaLogInterceptor, metrics_runtime, tracing_interceptor
from orchestrator.temporal import connect, workflow_runner
from orchestrator.worker.activities import BillingActivities, EnrollmentActivities
from workflows.registry import WORKFLOWS

log = logging.getLogger("orchestrator.worker")
SERVICE_NAME = "saga-worker"


@asynccontextmanager
async def saga_worker(
    client: Client, settings: WorkerSettings, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[Worker]:
    """A running worker for every saga type, with its HTTP clients; stopped and closed on exit.
    With `tracer_provider`, workflows, activities and their HTTP calls are traced."""
    interceptors: list[Interceptor] = [SagaLogInterceptor()]
    if tracer_provider is not None:
        interceptors.append(tracing_interceptor(tracer_provider))
    async with (
        create_http_client(settings.enrollment_url, settings, tracer_provider) as enrollment_http,
        create_http_client(settings.billing_url, settings, tracer_provider) as billing_http,
    ):
        activities = [
            *EnrollmentActivities(EnrollmentClient(enrollment_http)).all(),
            *BillingActivities(BillingClient(billing_http)).all(),
        ]
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=activities,
            interceptors=interceptors,
            workflow_runner=workflow_runner(),
            max_cached_workflows=settings.worker_max_cached_workflows,
            max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
            max_concurrent_activities=settings.worker_max_concurrent_activities,
            max_concurrent_local_activities=settings.worker_max_concurrent_local_activities,
        )
        async with worker:
            yield worker


async def run(settings: WorkerSettings) -> None:
    client = await connect(settings, metrics_runtime(settings))
    tracer_provider = create_tracer_provider(settings, SERVICE_NAME)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with saga_worker(client, settings, tracer_provider):
        log.info(
            "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
        )
        if settings.metrics_port is not None:
            log.info("metrics at http://%s:%d/metrics", settings.host, settings.metrics_port)
        await stop.wait()
    log.info("worker stopped")


def main() -> None:
    settings = WorkerSettings()
    configure_logging(settings)
    if settings.log_format == "json":
        # The ids are fields of the JSON line already; keep the messages free of them.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    # uvloop, as every HTTP process (common/serving.py): the worker's loop wakes for every task
    # the SDK's core hands over and every answer of a service (tuning log, entry 29).
    uvloop.run(run(settings))


if __name__ == "__main__":
    run_and_exit(main)
