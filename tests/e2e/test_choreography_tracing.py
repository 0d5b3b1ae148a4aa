"""One trace per choreographed saga, on each broker: from the API's `POST /students` through
every event's producer span (the relay that published it) to each consumer's span (enrollment,
billing and the API's tracker), inside which the reaction staged the next event. What an
operator sees in Jaeger for a saga that has no workflow to hang its spans on.

The processes run in threads of this one, so one in-memory exporter receives the spans of all
of them (each from a tracer provider of its own, naming its service)."""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from temporalio.testing import WorkflowEnvironment

from choreography.config import BrokerConfig
from choreography.operations import list_dead_letters, redrive_dead_letters
from choreography.topology import BILLING, ENROLLMENT, SUBSCRIPTIONS, TRACKER, subscribed_types
from sagas import SagaStatus
from tests.e2e.conftest import System, deployment, new_student, run_saga
from tests.support.broker import (
    EmbeddedNats,
    delete_rabbitmq_namespace,
    rabbitmq_url,
    unique_namespace,
)
from tests.support.stack import Observation

Span = ReadableSpan
CHOREOGRAPHY = "choreography"
# The service whose spans each consumer's are (the tracker runs in the API).
PROCESS_OF = {ENROLLMENT: "enrollment", BILLING: "billing", TRACKER: "saga-api"}
DATABASES = ("api.db", "enrollment.db", "billing.db")


@dataclass
class TracedSystem:
    system: System
    spans: InMemorySpanExporter


@pytest.fixture(
    scope="module", params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
async def traced(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    nats_server: EmbeddedNats,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TracedSystem]:
    """A deployment of its own, on each broker, whose processes trace into memory."""
    if request.param == "rabbitmq":
        url = rabbitmq_url()
        if url is None:
            pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    else:
        url = nats_server.url
    broker = BrokerConfig(url=url, namespace=unique_namespace(), max_attempts=5)
    spans = InMemorySpanExporter()
    try:
        async with deployment(
            temporal_env,
            tmp_path_factory.mktemp(f"traced-{request.param}"),
            broker,
            nats=nats_server if request.param == "nats" else None,
            observation=Observation(spans),
        ) as system:
            yield TracedSystem(system, spans)
    finally:
        if request.param == "rabbitmq":
            await delete_rabbitmq_namespace(broker)


def _service(span: Span) -> object:
    return span.resource.attributes.get("service.name")


def _attribute(span: Span, name: str) -> object:
    return (span.attributes or {}).get(name)


def _children(trace: list[Span], parent: Span) -> list[Span]:
    return [
        span
        for span in trace
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def _by_id(trace: list[Span], span_id: int) -> Span:
    (span,) = [span for span in trace if span.context.span_id == span_id]
    return span


def _producers(trace: list[Span]) -> list[Span]:
    return [span for span in trace if span.kind is SpanKind.PRODUCER]


def _delivered_everywhere(published: set[str]) -> Callable[[list[Span]], bool]:
    """Each of these events published, and received by every consumer subscribed to it."""

    def complete(trace: list[Span]) -> bool:
        producers = {span.name.removeprefix("publish "): span for span in _producers(trace)}
        return set(producers) == published and all(
            {_attribute(child, "messaging.consumer.group.name") for child in _children(trace, span)}
            >= _subscribers(event_type)
            for event_type, span in producers.items()
        )

    return complete


def _subscribers(event_type: str) -> set[str]:
    return {consumer for consumer in SUBSCRIPTIONS if event_type in subscribed_types(consumer)}


async def _saga_trace(
    spans: InMemorySpanExporter, student_id: str, complete: Callable[[list[Span]], bool]
) -> list[Span]:
    """Every span of the one trace that names the student, once `complete` says the last
    expected one has ended (a consumer span ends just after the tracker saw the saga end)."""
    trace: list[Span] = []
    for _ in range(200):
        finished = list(spans.get_finished_spans())
        traces = {
            span.context.trace_id
            for span in finished
            if _attribute(span, "saga.student_id") == student_id
        }
        assert len(traces) <= 1, f"{student_id}'s spans are in {len(traces)} traces"
        if traces:
            (trace_id,) = traces
            trace = [span for span in finished if span.context.trace_id == trace_id]
            if complete(trace):
                return trace
        await asyncio.sleep(0.05)
    raise AssertionError(f"no complete trace for {student_id}: {[s.name for s in trace]}")


def _assert_one_causal_chain(trace: list[Span], student_id: str, published: dict[str, str]) -> None:
    """The API's request is the trace's only root; each event's producer span is in the
    service that `published` says, child of the API's request (the first event) or of the
    consumer span whose reaction staged it; its consumer spans are its children, one per
    subscribed consumer, each in that consumer's process."""
    (request,) = [span for span in trace if span.parent is None]
    assert (request.name, _service(request), request.kind) == (
        "POST /students",
        "saga-api",
        SpanKind.SERVER,
    )
    producers = _producers(trace)
    assert sorted(span.name for span in producers) == sorted(f"publish {t}" for t in published)
    for producer in producers:
        event_type = producer.name.removeprefix("publish ")
        assert _service(producer) == published[event_type], producer.name
        assert _attribute(producer, "saga.student_id") == student_id
        assert producer.parent is not None
        staged_in = _by_id(trace, producer.parent.span_id)
        if event_type == "StudentCreated":
            assert staged_in is request
        else:
            assert staged_in.kind is SpanKind.CONSUMER, producer.name
            assert _service(staged_in) == published[event_type], producer.name
        consumers = _children(trace, producer)
        assert {span.kind for span in consumers} == {SpanKind.CONSUMER}
        groups = [str(_attribute(span, "messaging.consumer.group.name")) for span in consumers]
        assert sorted(groups) == sorted(_subscribers(event_type)), producer.name
        for consumer in consumers:
            assert consumer.name == f"process {event_type}"
            group = _attribute(consumer, "messaging.consumer.group.name")
            assert _service(consumer) == PROCESS_OF[str(group)]
            assert _attribute(consumer, "saga.student_id") == student_id
            assert _attribute(consumer, "messaging.system") in ("nats", "rabbitmq")


def _outbox_trace_contexts(data_dir: Path, student_id: str) -> dict[str, list[str | None]]:
    """Each database's outbox rows of the student: their stored trace context."""
    contexts = {}
    for database in DATABASES:
        connection = sqlite3.connect(data_dir / database)
        try:
            rows = connection.execute(
                "SELECT trace_context FROM outbox WHERE student_id = ? ORDER BY position",
                (student_id,),
            ).fetchall()
        finally:
            connection.close()
        contexts[database] = [row[0] for row in rows]
    return contexts


def _trace_id_of(stored: str | None) -> int:
    assert stored is not None
    return int(json.loads(stored)["traceparent"].split("-")[1], 16)


async def test_a_completed_choreographed_saga_is_one_trace_from_the_api_through_every_event(
    traced: TracedSystem,
) -> None:
    student = new_student()
    published = {
        "StudentCreated": "saga-api",
        "SeatReserved": "enrollment",
        "PaymentCaptured": "billing",
        "EnrollmentConfirmed": "enrollment",
    }

    saga = await run_saga(traced.system, student, CHOREOGRAPHY)
    trace = await _saga_trace(
        traced.spans, student["student_id"], _delivered_everywhere(set(published))
    )

    assert saga["status"] == SagaStatus.COMPLETED
    _assert_one_causal_chain(trace, student["student_id"], published)
    # The outbox rows held the trace between the staging transaction and the relay.
    assert traced.system.data_dir is not None
    stored = _outbox_trace_contexts(traced.system.data_dir, student["student_id"])
    assert {database: len(rows) for database, rows in stored.items()} == {
        "api.db": 1,
        "enrollment.db": 2,
        "billing.db": 1,
    }
    trace_id = trace[0].context.trace_id
    assert {_trace_id_of(row) for rows in stored.values() for row in rows} == {trace_id}


async def test_a_compensated_choreographed_saga_keeps_its_compensation_in_the_same_trace(
    traced: TracedSystem,
) -> None:
    student = new_student(payment_token="tok_declined")
    published = {
        "StudentCreated": "saga-api",
        "SeatReserved": "enrollment",
        "PaymentDeclined": "billing",
        "EnrollmentCancelled": "enrollment",
        # Billing's answer to the cancelled seat when nothing was captured: the charge voided.
        "PaymentVoided": "billing",
    }

    saga = await run_saga(traced.system, student, CHOREOGRAPHY)
    trace = await _saga_trace(
        traced.spans, student["student_id"], _delivered_everywhere(set(published))
    )

    assert saga["status"] == SagaStatus.COMPENSATED
    _assert_one_causal_chain(trace, student["student_id"], published)


async def test_a_dead_lettered_event_redriven_rejoins_its_saga_s_trace(
    traced: TracedSystem,
) -> None:
    """Each failed attempt is an error span under the event's producer span; the dead letter
    keeps the trace headers, so the re-driven delivery is one more child of it."""
    system = traced.system
    assert system.broker is not None
    broker = system.broker
    student = new_student()
    student_id = student["student_id"]
    system.delivery_faults.fail_next(ENROLLMENT, "StudentCreated", times=1_000)
    try:
        posted = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
        assert posted.status_code == 202
        for _ in range(600):
            if any(letter.student_id == student_id for letter in await list_dead_letters(broker)):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no dead letter")
    finally:
        system.delivery_faults.clear()  # the cause is fixed
    redriven = await redrive_dead_letters(broker, lambda letter: letter.student_id == student_id)
    saga = await system.wait_for_terminal(student_id)
    published = {
        "StudentCreated": "saga-api",
        "SeatReserved": "enrollment",
        "PaymentCaptured": "billing",
        "EnrollmentConfirmed": "enrollment",
    }
    trace = await _saga_trace(traced.spans, student_id, _delivered_everywhere(set(published)))

    assert [letter.event_type for letter in redriven] == ["StudentCreated"]
    assert saga["status"] == SagaStatus.COMPLETED
    (created,) = [span for span in _producers(trace) if span.name == "publish StudentCreated"]
    deliveries = [
        span
        for span in _children(trace, created)
        if _attribute(span, "messaging.consumer.group.name") == ENROLLMENT
    ]
    statuses = sorted(span.status.status_code.name for span in deliveries)
    assert statuses == sorted([StatusCode.ERROR.name] * broker.max_attempts + ["UNSET"])
    (applied,) = [span for span in deliveries if span.status.status_code is StatusCode.UNSET]
    (reserved,) = [span for span in _producers(trace) if span.name == "publish SeatReserved"]
    assert reserved.parent is not None and reserved.parent.span_id == applied.context.span_id


async def test_with_tracing_off_the_outbox_rows_carry_no_trace_context(
    choreographed: System,
) -> None:
    system = choreographed
    student = new_student()

    saga = await run_saga(system, student, CHOREOGRAPHY)

    assert saga["status"] == SagaStatus.COMPLETED
    assert system.data_dir is not None
    stored = _outbox_trace_contexts(system.data_dir, student["student_id"])
    assert all(stored.values()), stored
    assert {row for rows in stored.values() for row in rows} == {None}
