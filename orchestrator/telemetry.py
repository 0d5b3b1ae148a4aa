"""What the worker and the API add to Temporal for observability: the tracing interceptor, the
saga log context of each activity, and the worker's Prometheus endpoint.

Saga outcomes and durations are recorded by the workflow itself through
`workflow.metric_meter()` (sagas/runner.py): the SDK drops those records while replaying,
so a saga replayed on another worker after a crash is not counted again; an activity could not
offer that, and would add a step to every history. They reach the same endpoint as the SDK's
own metrics.
"""

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from common.logs import SagaLogContext, bind_saga
from orchestrator.config import WorkerSettings
from sagas.metrics import SAGA_DURATION_BUCKETS_MS, SAGA_DURATION_METRIC
from workflows.registry import student_id_of


def tracing_interceptor(tracer_provider: TracerProvider) -> TracingInterceptor:
    """Spans for starting, running and querying workflows and for each activity, their context
    carried in Temporal headers; inside the workflow they are replay-safe (the contrib
    interceptor creates them only outside replay, with no duration)."""
    return TracingInterceptor(tracer_provider.get_tracer("orchestrator"))


def traced_client(client: Client, tracer_provider: TracerProvider | None) -> Client:
    """The same connection, with the tracing interceptor on every call when tracing is on."""
    if tracer_provider is None:
        return client
    config = client.config()
    config["interceptors"] = [*config["interceptors"], tracing_interceptor(tracer_provider)]
    return Client(**config)


def metrics_runtime(settings: WorkerSettings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on HOST:METRICS_PORT; None without a port
    (the SDK's default runtime, no endpoint). Durations are in milliseconds, the SDK's default,
    which Temporal's published dashboards expect."""
    if settings.metrics_port is None:
        return None
    prometheus = PrometheusConfig(
        bind_address=f"{settings.host}:{settings.metrics_port}",
        histogram_bucket_overrides={SAGA_DURATION_METRIC: SAGA_DURATION_BUCKETS_MS},
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


class SagaLogInterceptor(Interceptor):
    """Binds the saga's ids for each activity, so every line it logs (its HTTP client's too)
    carries them, and its HTTP requests send them on in `baggage` (orchestrator/clients.py)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _SagaLogActivityInbound(next)


class _SagaLogActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        student_id = student_id_of(info.workflow_id or "")
        if student_id is not None and info.workflow_id and info.workflow_run_id:
            # Not reset: each activity runs in a task of its own, and the SDK's own line about
            # a failed attempt comes after this returns, in the same task.
            bind_saga(SagaLogContext(student_id, info.workflow_id, info.workflow_run_id))
        return await super().execute_activity(input)
