"""One trace per choreographed saga: the trace context travels with each event, in its outbox
row from the transaction that staged it to the relay, and in the message's headers from the
relay's producer span to each consumer's span, inside which the reaction stages the next events.

W3C trace context only (`traceparent`, `tracestate`): baggage is the HTTP clients' business
(the saga's ids, orchestrator/clients.py) and the events carry those ids themselves. With
tracing off there is no current span, so nothing is stored or sent, and the bus and the relay,
given no tracer, start no span at all.
"""

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "choreography"
_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset(_PROPAGATOR.fields)  # traceparent, tracestate


def tracer_of(tracer_provider: TracerProvider | None) -> Tracer | None:
    return None if tracer_provider is None else tracer_provider.get_tracer(TRACER_NAME)


def current_trace_headers() -> dict[str, str]:
    """The current span's context as headers; empty without a (valid) current span."""
    carrier: dict[str, str] = {}
    if get_current_span().get_span_context().is_valid:
        _PROPAGATOR.inject(carrier)
    return carrier


def stored_trace_context() -> str | None:
    """What an outbox row keeps of the current span (JSON of its headers); None untraced."""
    headers = current_trace_headers()
    return json.dumps(headers, separators=(",", ":")) if headers else None


def context_from_stored(stored: str | None) -> Context:
    """The context an outbox row was staged in; an empty one (a new trace) when it has none or
    what it has is not readable (a row written by other code)."""
    if not stored:
        return Context()
    try:
        headers = json.loads(stored)
    except ValueError:
        return Context()
    if not isinstance(headers, dict):
        return Context()
    return context_from_headers(headers)


class _HeaderGetter(Getter[Mapping[str, Any]]):
    """Reads trace headers whatever their case, and as bytes too (AMQP's long strings)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        for name, value in carrier.items():
            if name.lower() == key:
                return [value.decode() if isinstance(value, bytes) else str(value)]
        return None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [name.lower() for name in carrier]


_GETTER = _HeaderGetter()


def context_from_headers(headers: Mapping[str, Any]) -> Context:
    """The producer's context a message carries; an empty one (a new trace) without it."""
    return _PROPAGATOR.extract(headers, context=Context(), getter=_GETTER)


def trace_headers_of(headers: Mapping[str, Any]) -> dict[str, str]:
    """Only the trace headers of a message's, to pass them on (dead letters, re-drives)."""
    return {
        name.lower(): value.decode() if isinstance(value, bytes) else str(value)
        for name, value in headers.items()
        if name.lower() in TRACE_HEADERS
    }


@contextmanager
def producer_span(
    tracer: Tracer, event_type: str, stored: str | None, attributes: Mapping[str, str]
) -> Iterator[dict[str, str]]:
    """A PRODUCER span for publishing one outbox row, child of the context it was staged in
    (`stored`); yields the headers that carry this span to the consumers."""
    with tracer.start_as_current_span(
        f"publish {event_type}",
        context=context_from_stored(stored),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.operation.type": "send", **attributes},
    ):
        yield current_trace_headers()


@contextmanager
def consumer_span(
    tracer: Tracer,
    event_type: str,
    headers: Mapping[str, Any],
    attributes: Mapping[str, str | int],
) -> Iterator[Span]:
    """A CONSUMER span for one delivery, child of the producer span its headers carry; the
    reaction runs inside it, so the events it stages continue the trace."""
    with tracer.start_as_current_span(
        f"process {event_type}",
        context=context_from_headers(headers),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.operation.type": "process", **attributes},
    ) as span:
        yield span
