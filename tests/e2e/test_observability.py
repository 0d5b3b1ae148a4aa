"""Traces, metrics and logs of sagas run through the real API, on a real Temporal dev server,
with the real services over HTTP: what an operator would see in Jaeger, Prometheus and the log
pipeline. The processes run in threads of this one, so one in-memory exporter receives the
spans of all of them (each from a tracer provider of its own, naming its service)."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from choreography.config import BrokerConfig
from orchestrator.config import WorkerSettings
from orchestrator.telemetry import metrics_runtime, tracing_interceptor
from tests.e2e.conftest import System, deployment, new_student, run_saga
from tests.support.broker import EmbeddedNats, unique_namespace
from tests.support.logs import json_log_lines
from tests.support.metrics import scrape, value
from tests.support.servers import free_port
from tests.support.stack import Observation, temporal_address
from workflows.contracts import workflow_id_for
from workflows.onboarding import StudentOnboardingSaga

Span = ReadableSpan


@dataclass
class ObservedSystem:
    system: System
    spans: InMemorySpanExporter
    worker_metrics_url: str


@pytest.fixture(scope="module")
async def observed(
    temporal_env: WorkflowEnvironment,
    nats_server: EmbeddedNats,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ObservedSystem]:
    """A deployment of its own whose processes trace into memory and whose worker serves
    Prometheus metrics, as `METRICS_PORT` makes `python -m orchestrator.worker` do."""
    spans = InMemorySpanExporter()
    port = free_port()
    worker_client = await Client.connect(
        temporal_address(temporal_env),
        data_converter=temporal_env.client.data_converter,
        runtime=metrics_runtime(WorkerSettings(metrics_port=port)),
    )
    broker = BrokerConfig(url=nats_server.url, namespace=unique_namespace(), max_attempts=5)
    async with deployment(
        temporal_env,
        tmp_path_factory.mktemp("observed"),
        broker,
        nats=nats_server,
        observation=Observation(spans),
        worker_client=worker_client,
    ) as system:
        yield ObservedSystem(system, spans, f"http://127.0.0.1:{port}/metrics")


# Traces


def _service(span: Span) -> object:
    return span.resource.attributes.get("service.name")


def _children(trace: list[Span], parent: Span) -> list[Span]:
    return [
        span
        for span in trace
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def _child(trace: list[Span], parent: Span, name: str) -> Span:
    named = [span for span in _children(trace, parent) if span.name == name]
    assert len(named) == 1, f"{name} under {parent.name}: {[s.name for s in trace]}"
    return named[0]


def _served_through(trace: list[Span], run_activity: Span, service: str, route: str) -> None:
    """The activity's HTTP call (client span in the worker) reached `service`, whose server
    span for `route` is its child: the context crossed HTTP in `traceparent`."""
    calls = [s for s in _children(trace, run_activity) if s.kind is SpanKind.CLIENT]
    assert calls, f"no HTTP call under {run_activity.name}"
    served = [
        s
        for call in calls
        for s in _children(trace, call)
        if s.kind is SpanKind.SERVER and _service(s) == service
    ]
    assert [s.name for s in served] == [route]
    assert {_service(call) for call in calls} == {"saga-worker"}


async def _saga_trace(
    spans: InMemorySpanExporter, workflow_id: str, complete: Callable[[list[Span]], bool]
) -> list[Span]:
    """The spans of the trace that started the saga's workflow, once `complete` says the last
    expected one has been exported (a server span ends just after its response is sent)."""
    for _ in range(100):
        finished = list(spans.get_finished_spans())
        starts = [
            span
            for span in finished
            if span.name == "StartWorkflow:StudentOnboardingSaga"
            and (span.attributes or {}).get("temporalWorkflowID") == workflow_id
        ]
        if starts:
            trace_id = starts[0].context.trace_id
            trace = [span for span in finished if span.context.trace_id == trace_id]
            if complete(trace):
                return trace
        await asyncio.sleep(0.05)
    raise AssertionError(f"no complete trace for {workflow_id}")


def _has(name: str) -> Callable[[list[Span]], bool]:
    return lambda trace: any(span.name == name for span in trace)


def _traces_naming(spans: InMemorySpanExporter, workflow_id: str) -> set[int]:
    """The traces with a span about the workflow, status reads aside (each is a trace of its
    own, from the caller's GET to the query's handling in the worker)."""
    return {
        span.context.trace_id
        for span in spans.get_finished_spans()
        if workflow_id in json.dumps(dict(span.attributes or {}))
        and not span.name.startswith(("QueryWorkflow:", "HandleQuery:"))
    }


async def test_one_trace_follows_a_saga_from_the_api_through_the_workflow_into_both_services(
    observed: ObservedSystem,
) -> None:
    student = new_student()
    workflow_id = workflow_id_for(student["student_id"])

    saga = await run_saga(observed.system, student)
    trace = await _saga_trace(
        observed.spans, workflow_id, _has("POST /enrollments/{enrollment_id}/confirm")
    )

    assert saga["status"] == "COMPLETED"
    (request,) = [span for span in trace if span.parent is None]
    assert (request.name, _service(request), request.kind) == (
        "POST /students",
        "saga-api",
        SpanKind.SERVER,
    )
    start = _child(trace, request, "StartWorkflow:StudentOnboardingSaga")
    # Temporal's interceptor hangs the workflow's spans (instant ones, replay-safe) under the
    # span that started it: the run, each activity's start, the completion.
    _child(trace, start, "RunWorkflow:StudentOnboardingSaga")
    _child(trace, start, "CompleteWorkflow:StudentOnboardingSaga")
    for step, service, route in [
        ("reserve_seat", "enrollment", "POST /enrollments"),
        ("charge_tuition", "billing", "POST /charges"),
        ("confirm_enrollment", "enrollment", "POST /enrollments/{enrollment_id}/confirm"),
    ]:
        run_activity = _child(
            trace, _child(trace, start, f"StartActivity:{step}"), f"RunActivity:{step}"
        )
        assert _service(run_activity) == "saga-worker"
        _served_through(trace, run_activity, service, route)
    assert _traces_naming(observed.spans, workflow_id) == {request.context.trace_id}


async def test_a_compensated_saga_shows_its_compensation_in_the_same_trace(
    observed: ObservedSystem,
) -> None:
    student = new_student(payment_token="tok_declined")
    workflow_id = workflow_id_for(student["student_id"])
    cancel_route = "POST /enrollments/by-key/{idempotency_key}/cancel"

    saga = await run_saga(observed.system, student)
    trace = await _saga_trace(observed.spans, workflow_id, _has(cancel_route))

    assert saga["status"] == "COMPENSATED"
    start = next(span for span in trace if span.name == "StartWorkflow:StudentOnboardingSaga")
    charge = _child(
        trace, _child(trace, start, "StartActivity:charge_tuition"), "RunActivity:charge_tuition"
    )
    _served_through(trace, charge, "billing", "POST /charges")
    cancel = _child(
        trace,
        _child(trace, start, "StartActivity:cancel_enrollment"),
        "RunActivity:cancel_enrollment",
    )
    _served_through(trace, cancel, "enrollment", cancel_route)
    assert _traces_naming(observed.spans, workflow_id) == {start.context.trace_id}


async def test_a_traced_saga_replays_deterministically_and_emits_no_span_again(
    observed: ObservedSystem,
) -> None:
    """The worker's tracing interceptor runs inside the workflow: replaying a history recorded
    with it (as a worker does after a crash) must neither diverge nor trace the saga twice."""
    student = new_student(payment_token="tok_declined")
    workflow_id = workflow_id_for(student["student_id"])
    await run_saga(observed.system, student)
    temporal = observed.system.temporal
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    replay_spans = InMemorySpanExporter()
    provider = Observation(replay_spans).tracer_provider("saga-worker")
    assert provider is not None
    replayer = Replayer(
        workflows=[StudentOnboardingSaga],
        data_converter=temporal.data_converter,
        interceptors=[tracing_interceptor(provider)],
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None
    # Recorded with the trace context in its header, so the interceptor had a parent to use.
    started = history.events[0].workflow_execution_started_event_attributes
    assert "_tracer-data" in started.header.fields
    assert replay_spans.get_finished_spans() == ()


# Metrics


async def test_the_worker_serves_temporal_metrics_and_saga_outcomes_with_their_durations(
    observed: ObservedSystem,
) -> None:
    url = observed.worker_metrics_url
    before = await scrape(url)

    completed = await run_saga(observed.system, new_student())
    declined = await run_saga(observed.system, new_student(payment_token="tok_declined"))
    after = await scrape(url)

    assert (completed["status"], declined["status"]) == ("COMPLETED", "COMPENSATED")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("saga_outcomes_total", outcome="completed", failed_step="none") == 1
    assert moved("saga_outcomes_total", outcome="compensated", failed_step="charge_tuition") == 1
    assert moved("saga_duration_count", outcome="completed", failed_step="none") == 1
    assert moved("saga_duration_sum", outcome="completed", failed_step="none") > 0
    assert moved("temporal_workflow_completed_total", workflow_type="StudentOnboardingSaga") == 2
    # Steps and compensations are tried as local activities first; these all answered there.
    local = "temporal_local_activity_execution_latency_count"
    assert moved(local, activity_type="reserve_seat") == 2
    assert moved(local, activity_type="cancel_enrollment") == 1
    assert moved("temporal_activity_execution_latency_count") == 0


async def test_the_api_and_each_service_count_their_requests_by_route_template_and_status(
    observed: ObservedSystem,
) -> None:
    system = observed.system
    urls = {
        name: str(client.base_url.join("/metrics"))
        for name, client in [
            ("api", system.api),
            ("enrollment", system.enrollment),
            ("billing", system.billing),
        ]
    }
    before = {name: await scrape(url) for name, url in urls.items()}

    await run_saga(system, new_student())
    after = {name: await scrape(url) for name, url in urls.items()}

    def moved(process: str, name: str, **labels: str) -> float:
        return value(after[process], name, **labels) - value(before[process], name, **labels)

    requests = "http_requests_total"
    assert moved("api", requests, method="POST", route="/students", status="202") == 1
    assert moved("enrollment", requests, method="POST", route="/enrollments", status="201") == 1
    confirm = "/enrollments/{enrollment_id}/confirm"
    assert moved("enrollment", requests, method="POST", route=confirm, status="200") == 1
    assert moved("billing", requests, method="POST", route="/charges", status="201") == 1
    durations = "http_request_duration_seconds_count"
    assert moved("billing", durations, method="POST", route="/charges") == 1


# Logs


async def test_every_log_line_about_a_saga_carries_its_student_workflow_and_run_ids(
    observed: ObservedSystem,
) -> None:
    system = observed.system
    student = new_student(payment_token="tok_declined")
    student_id = student["student_id"]
    workflow_id = workflow_id_for(student_id)

    with json_log_lines() as lines:
        started = await system.api.post("/students", json=student)
        saga = await system.wait_for_terminal(student_id)
    run_id = started.json()["run_id"]

    assert saga["status"] == "COMPENSATED"
    # This test's status polls (its client's lines and the API's access lines) name the student
    # too, but they read the saga rather than work on it, and belong to no run: left out.
    status_read = f"/sagas/{student_id} "
    about_the_saga = [
        line
        for line in lines
        if (workflow_id in json.dumps(line) or student_id in line["message"])
        and status_read not in line["message"]
    ]
    for line in about_the_saga:
        assert (line.get("student_id"), line.get("workflow_id"), line.get("run_id")) == (
            student_id,
            workflow_id,
            run_id,
        ), line
    loggers = {line["logger"] for line in about_the_saga}
    assert {
        "orchestrator.sagas",
        "temporalio.workflow",
        "orchestrator.clients",
        "uvicorn.access",
    } <= loggers
    served = " ".join(
        line["message"] for line in about_the_saga if line["logger"] == "uvicorn.access"
    )
    assert "/enrollments" in served and "/charges" in served
