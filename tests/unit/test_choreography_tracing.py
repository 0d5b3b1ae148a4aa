"""The trace context's carriers in the choreography: the outbox row's stored context and the
message headers, between real spans of an in-memory tracer provider."""

import json

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from choreography.tracing import (
    consumer_span,
    context_from_headers,
    context_from_stored,
    current_trace_headers,
    producer_span,
    stored_trace_context,
    trace_headers_of,
    tracer_of,
)


def _tracing() -> tuple[Tracer, InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tracer_of(provider)
    assert tracer is not None
    return tracer, spans


def _named(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [span for span in spans.get_finished_spans() if span.name == name]
    return span


def test_without_a_current_span_nothing_is_stored_or_sent() -> None:
    assert stored_trace_context() is None
    assert current_trace_headers() == {}
    assert tracer_of(None) is None


def test_the_stored_context_is_the_staging_span_and_the_producer_span_its_child() -> None:
    tracer, spans = _tracing()
    with tracer.start_as_current_span("POST /students") as request:
        stored = stored_trace_context()

    with producer_span(tracer, "StudentCreated", stored, {"messaging.system": "nats"}) as sent:
        pass

    assert stored is not None and set(json.loads(stored)) == {"traceparent"}
    producer = _named(spans, "publish StudentCreated")
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == request.get_span_context().span_id
    assert producer.context.trace_id == request.get_span_context().trace_id
    assert sent["traceparent"].split("-")[2] == f"{producer.context.span_id:016x}"


def test_a_consumer_span_continues_the_producer_span_its_headers_carry() -> None:
    tracer, spans = _tracing()
    with producer_span(tracer, "SeatReserved", None, {}) as sent:
        pass
    # As AMQP hands them over: another case, and bytes.
    received = {"TraceParent": sent["traceparent"].encode(), "saga-consumer": "billing"}

    with consumer_span(tracer, "SeatReserved", received, {"messaging.system": "rabbitmq"}):
        staged_there = stored_trace_context()

    producer = _named(spans, "publish SeatReserved")
    consumer = _named(spans, "process SeatReserved")
    assert producer.parent is None  # a row staged untraced starts a trace of its own
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    assert (consumer.attributes or {})["messaging.operation.type"] == "process"
    assert staged_there is not None
    assert json.loads(staged_there)["traceparent"].split("-")[2] == (
        f"{consumer.context.span_id:016x}"
    )


def test_an_unreadable_or_absent_context_starts_a_new_trace() -> None:
    tracer, spans = _tracing()
    with tracer.start_as_current_span("elsewhere"):
        for stored in (None, "", "not json", "[1]", '{"traceparent": "garbage"}'):
            with tracer.start_as_current_span("root", context=context_from_stored(stored)):
                pass
        with tracer.start_as_current_span("root", context=context_from_headers({})):
            pass

    roots = [span for span in spans.get_finished_spans() if span.name == "root"]
    assert len(roots) == 6 and all(span.parent is None for span in roots)


def test_only_the_trace_headers_are_passed_on() -> None:
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Tracestate": b"vendor=1",
        "Nats-Msg-Id": "e-1",
        "saga-error": "boom",
    }

    assert trace_headers_of(headers) == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=1",
    }
