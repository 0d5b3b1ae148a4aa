"""OpenTelemetry tracing: each process's tracer provider, built from its settings at startup,
and the instrumentation of its FastAPI app with that provider (the worker's HTTP clients make
their own client spans: orchestrator/clients.py).

Everything takes the provider explicitly rather than through OpenTelemetry's global one: the
global can be set only once per process, and the tests run the API, the worker and both
services in one process. With tracing off (no OTLP endpoint) there is no provider and nothing
is instrumented: no middleware, no spans, no cost. Trace context crosses HTTP in the W3C
`traceparent` header (OpenTelemetry's default propagator).
"""

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from common.settings import ObservabilitySettings

# Probes and scrapes are not worth a trace each.
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$"


def create_tracer_provider(
    settings: ObservabilitySettings, service_name: str
) -> TracerProvider | None:
    """The process's provider, exporting in batches; None when tracing is off."""
    if not settings.tracing_enabled:
        return None
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    return provider


def _exporter(settings: ObservabilitySettings) -> SpanExporter:
    if settings.otel_traces_exporter == "console" or not settings.otel_exporter_otlp_endpoint:
        return ConsoleSpanExporter()
    return OTLPSpanExporter(
        endpoint=f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/v1/traces"
    )


def instrument_app(app: FastAPI, tracer_provider: TracerProvider | None) -> None:
    """A server span per request, child of the caller's span when it sent `traceparent`."""
    if tracer_provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )
