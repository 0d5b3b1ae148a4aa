"""Observability of an HTTP process in one call, made by each app factory: Prometheus metrics at
/metrics, the saga ids of each request in its log lines, and traces when tracing is on."""

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from common.logs import SagaLogContextMiddleware
from common.metrics import install_http_metrics
from common.settings import ObservabilitySettings
from common.tracing import create_tracer_provider, instrument_app


def install_observability(
    app: FastAPI,
    settings: ObservabilitySettings,
    service_name: str,
    tracer_provider: TracerProvider | None = None,
) -> TracerProvider | None:
    """`tracer_provider` lets tests collect spans in memory; without it the settings decide
    (create_tracer_provider: None when tracing is off). Returns the provider in use."""
    tracer_provider = tracer_provider or create_tracer_provider(settings, service_name)
    install_http_metrics(app)
    app.add_middleware(SagaLogContextMiddleware)
    instrument_app(app, tracer_provider)
    return tracer_provider
