"""Sagas started by the registry's StudentCreated event, on the embedded NATS and on RabbitMQ
(its own virtual host), through the intake running against the whole real system. The events
are published as the registry's team would publish them (tests/support/registry.py)."""

import asyncio
import json
import os
import subprocess
import sysconfig
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orchestrator.intake import IntakeBroker
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.dead_letters import DeadLetter
from orchestrator.intake.main import running_intake
from orchestrator.sagas import saga_exists
from sagas import SagaStatus
from tests.e2e.conftest import FULL_COURSE, System
from tests.support.broker import EmbeddedNats, rabbitmq_url, rabbitmq_vhost
from tests.support.logs import json_log_lines
from tests.support.registry import Registry, publish_event, registry, student_created
from tests.support.temporal import TEST_PAYLOAD_KEYS
from workflows.contracts import Step

SAGA = Path(sysconfig.get_path("scripts")) / "saga"
MARK_HEADER = "test-message-id"


@dataclass
class RunningIntake:
    settings: IntakeSettings
    broker: IntakeBroker
    spans: InMemorySpanExporter

    @property
    def url(self) -> str:
        return self.settings.intake_broker()


@pytest.fixture(
    scope="module", params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
async def intake(
    request: pytest.FixtureRequest, system: System, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningIntake]:
    """The intake with the contract's default names, on a broker of its own: a NATS server, or
    a virtual host of the shared RabbitMQ."""
    if request.param == "nats":
        nats_server = EmbeddedNats(tmp_path_factory.mktemp("intake-nats"))
        nats_server.start()
        try:
            async for running in _intake(system, nats_server.url):
                yield running
        finally:
            nats_server.stop()
        return
    base_url = rabbitmq_url()
    if base_url is None:
        pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    with rabbitmq_vhost(base_url) as url:
        async for running in _intake(system, url):
            yield running


async def _intake(system: System, url: str) -> AsyncIterator[RunningIntake]:
    settings = IntakeSettings(
        temporal_address=temporal_address_of(system),
        payload_keys=TEST_PAYLOAD_KEYS,
        task_queue=system.task_queue,
        intake_broker_url=url,
    )
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    async with running_intake(settings, system.temporal, provider) as broker:
        yield RunningIntake(settings, broker, spans)


def temporal_address_of(system: System) -> str:
    return str(system.temporal.service_client.config.target_host)


@pytest.fixture
async def producer(intake: RunningIntake) -> AsyncIterator[Registry]:
    async with registry(intake.url) as publisher:
        yield publisher


async def sagas_of(system: System, student_ids: list[str]) -> int:
    """How many workflow runs exist for these students (every run, closed ones included)."""
    quoted = ", ".join(f'"{student_id}"' for student_id in student_ids)
    count = await system.temporal.count_workflows(f"StudentId IN ({quoted})")
    return count.count


async def eventually(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def marked_letters(intake: RunningIntake, mark: str) -> list[DeadLetter]:
    return [
        letter
        for letter in await intake.broker.dead_letters()
        if letter.headers.get(MARK_HEADER) == mark
    ]


async def test_a_hundred_published_events_start_a_hundred_sagas_that_end_as_each_event_says(
    system: System, intake: RunningIntake, producer: Registry
) -> None:
    outcomes = (
        [("CS101", "tok_visa", SagaStatus.COMPLETED)] * 80
        + [("CS101", "tok_declined", SagaStatus.COMPENSATED)] * 10
        + [(FULL_COURSE.course_id, "tok_visa", SagaStatus.COMPENSATED)] * 10
    )
    events = [student_created(course, token) for course, token, _ in outcomes]

    for event in events:
        await publish_event(producer, event)
    states = await asyncio.gather(
        *(system.wait_for_terminal(event["student_id"], timeout=180) for event in events)
    )

    assert [state["status"] for state in states] == [status for _, _, status in outcomes]
    assert [state["failed_step"] for state in states[90:]] == [Step.RESERVE_SEAT] * 10
    assert await sagas_of(system, [event["student_id"] for event in events]) == 100
    assert [await system.charges_of(event["student_id"]) != [] for event in events[:80]] == [
        True
    ] * 80


async def test_the_same_twenty_events_published_twice_start_twenty_sagas(
    system: System, intake: RunningIntake, producer: Registry
) -> None:
    events = [student_created() for _ in range(20)]
    last = student_created()  # published after every duplicate: once it ran, they were read

    for event in events + events + [last]:
        await publish_event(producer, event)
    await system.wait_for_terminal(last["student_id"])
    states = [await system.wait_for_terminal(event["student_id"]) for event in events]

    assert {state["status"] for state in states} == {SagaStatus.COMPLETED}
    assert await sagas_of(system, [event["student_id"] for event in events]) == 20
    charges = [await system.charges_of(event["student_id"]) for event in events]
    assert [len(of_student) for of_student in charges] == [1] * 20


BAD_MESSAGES = {
    "not-json": (b'{"type": "StudentCreated", "version": 1,', "application/json"),
    "unsupported-content-type": (
        json.dumps(student_created(student_id="stu-plain-text")).encode(),
        "text/plain",
    ),
    "unknown-event-type": (
        json.dumps(student_created(type="StudentDeleted", student_id="stu-deleted")).encode(),
        "application/json",
    ),
    "unknown-event-version": (
        json.dumps(student_created(version=2, student_id="stu-version-2")).encode(),
        "application/json",
    ),
    "invalid-fields": (
        json.dumps(student_created(email="not-an-email", student_id="stu-bad-email")).encode(),
        "application/json",
    ),
}


@pytest.mark.parametrize("refusal", sorted(BAD_MESSAGES))
async def test_each_kind_of_bad_message_becomes_one_dead_letter_and_starts_nothing(
    system: System, intake: RunningIntake, producer: Registry, refusal: str
) -> None:
    body, content_type = BAD_MESSAGES[refusal]
    mark = uuid.uuid4().hex
    behind = student_created()

    await producer.publish(body, content_type=content_type, headers={MARK_HEADER: mark})
    await publish_event(producer, behind)
    # The event published after the bad one is not held up by it.
    assert (await system.wait_for_terminal(behind["student_id"]))["status"] == "COMPLETED"
    await eventually(lambda: marked_letters(intake, mark), "the dead letter")
    letters = await marked_letters(intake, mark)

    assert len(letters) == 1
    letter = letters[0]
    assert letter.refusal == refusal
    assert letter.reason
    assert letter.body == body
    assert letter.content_type == content_type
    assert letter.headers[MARK_HEADER] == mark
    student_id = json.loads(body)["student_id"] if refusal != "not-json" else None
    if student_id is not None:
        assert not await saga_exists(system.temporal, student_id)


async def test_a_dead_letter_for_invalid_fields_names_each_field_as_the_api_does(
    system: System, intake: RunningIntake, producer: Registry
) -> None:
    mark = uuid.uuid4().hex
    event = student_created(email="nope")
    del event["student_id"]

    await publish_event(producer, event, headers={MARK_HEADER: mark})
    await eventually(lambda: marked_letters(intake, mark), "the dead letter")
    fields = {name: value for name, value in event.items() if name not in ("type", "version")}
    http = await system.api.post("/students", json=fields)
    (letter,) = await marked_letters(intake, mark)

    assert letter.refusal == "invalid-fields"
    assert "student_id" in letter.reason and "email" in letter.reason
    assert http.status_code == 422
    assert [error["field"] for error in http.json()["errors"]] == ["body.email"]


async def test_the_intake_continues_the_producers_trace_and_logs_with_the_student_id(
    system: System, intake: RunningIntake, producer: Registry
) -> None:
    trace_id = uuid.uuid4().hex
    parent_span_id = uuid.uuid4().hex[:16]
    event = student_created()
    refused = student_created(email="nope")

    with json_log_lines() as lines:
        await publish_event(
            producer, event, headers={"traceparent": f"00-{trace_id}-{parent_span_id}-01"}
        )
        await publish_event(producer, refused)
        await system.wait_for_terminal(event["student_id"])
        await eventually(
            lambda: _async(any(line.get("student_id") == refused["student_id"] for line in lines)),
            "the dead letter's log line",
        )

    in_trace = [
        s for s in intake.spans.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id
    ]
    consumer = [s for s in in_trace if s.kind == SpanKind.CONSUMER]
    assert len(consumer) == 1
    assert consumer[0].parent is not None and f"{consumer[0].parent.span_id:016x}" == parent_span_id
    assert any(s.name.startswith("StartWorkflow") for s in in_trace)
    started = [line for line in lines if line["logger"] == "orchestrator.sagas"]
    assert any(line.get("student_id") == event["student_id"] for line in started)
    warned = [line for line in lines if line["logger"] == "orchestrator.intake"]
    assert any(line.get("student_id") == refused["student_id"] for line in warned)


async def _async(value: bool) -> bool:
    return value


async def saga_cli(
    intake: RunningIntake, system: System, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "INTAKE_BROKER_URL": intake.url,
        "TEMPORAL_ADDRESS": temporal_address_of(system),
        "COLUMNS": "250",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [str(SAGA), *args],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_dead_letter_is_listed_and_redriven_with_a_corrected_body_by_the_cli(
    system: System, intake: RunningIntake, producer: Registry, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    event = student_created(email="nope")
    await publish_event(producer, event, headers={MARK_HEADER: mark})
    await eventually(lambda: marked_letters(intake, mark), "the dead letter")
    (letter,) = await marked_letters(intake, mark)
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({**event, "email": "fixed@example.com"}))

    listed = await saga_cli(intake, system, "intake", "dead-letters")
    unchanged = await saga_cli(intake, system, "intake", "redrive", "--id", letter.id)
    redriven = await saga_cli(
        intake, system, "intake", "redrive", "--id", letter.id, "--body-file", str(fixed)
    )
    state = await system.wait_for_terminal(event["student_id"])

    assert listed.returncode == 0, listed.stderr
    assert letter.id in listed.stdout and "invalid-fields" in listed.stdout
    assert unchanged.returncode == 1, unchanged.stdout + unchanged.stderr
    assert "kept" in unchanged.stdout
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert state["status"] == SagaStatus.COMPLETED
    assert await marked_letters(intake, mark) == []


async def test_saga_publish_student_starts_a_saga_through_the_intake(
    system: System, intake: RunningIntake
) -> None:
    student_id = f"stu-{uuid.uuid4().hex[:10]}"

    published = await saga_cli(
        intake,
        system,
        "publish-student",
        "--name",
        "Mary Jackson",
        "--course",
        "CS101",
        "--student-id",
        student_id,
    )
    state = await system.wait_for_terminal(student_id)

    assert published.returncode == 0, published.stderr
    assert f"student-onboarding-{student_id}" in published.stdout
    assert state["status"] == SagaStatus.COMPLETED


async def test_the_intake_commands_exit_4_when_the_broker_cannot_be_reached(
    system: System, intake: RunningIntake
) -> None:
    unreachable = (
        "amqp://guest:guest@127.0.0.1:1/"
        if intake.url.startswith("amqp")
        else ("nats://127.0.0.1:1")
    )

    listed = await saga_cli(intake, system, "intake", "dead-letters", "--broker-url", unreachable)
    published = await saga_cli(
        intake,
        system,
        "publish-student",
        "--name",
        "N",
        "--course",
        "CS101",
        "--broker-url",
        unreachable,
    )

    assert listed.returncode == 4, listed.stderr
    assert published.returncode == 4, published.stderr
    assert "cannot reach the broker" in listed.stderr
