"""The event intake keeps every event through what goes wrong around it: Temporal stopped while
events arrive, and the intake itself SIGKILLed mid-stream. On the embedded NATS and on RabbitMQ
(a virtual host of its own), with the intake as its own process on the dev stack."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator

import pytest

from devstack.system import System
from orchestrator.intake import create_broker
from orchestrator.intake.config import IntakeSettings
from sagas import SagaStatus
from tests.reliability.conftest import assert_invariants_hold
from tests.support.broker import EmbeddedNats, rabbitmq_url, rabbitmq_vhost
from tests.support.intake_process import IntakeProcess, intake_process
from tests.support.registry import Registry, publish_event, registry, student_created

TEMPORAL_DOWN_SECONDS = 20


@pytest.fixture(
    scope="module", params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
)
def broker_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "nats":
        server = EmbeddedNats(tmp_path_factory.mktemp("intake-nats"))
        server.start()
        yield server.url
        server.stop()
        return
    base_url = rabbitmq_url()
    if base_url is None:
        pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    with rabbitmq_vhost(base_url) as url:
        yield url


@pytest.fixture
def intake(system: System, broker_url: str) -> Iterator[IntakeProcess]:
    settings = system.stack.settings
    environment = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "PAYLOAD_KEYS": system.stack.secrets["PAYLOAD_KEYS"],
        "INTAKE_BROKER_URL": broker_url,
        "INTAKE_RETRY_MAX_DELAY_SECONDS": "3",
    }
    with intake_process(environment) as running:
        yield running


@pytest.fixture
async def producer(intake: IntakeProcess, broker_url: str) -> AsyncIterator[Registry]:
    async with registry(broker_url) as publisher:
        yield publisher


async def dead_letter_count(broker_url: str) -> int:
    broker = create_broker(IntakeSettings(intake_broker_url=broker_url))
    await broker.connect(wait_for_broker=False)
    try:
        return len(await broker.dead_letters())
    finally:
        await broker.close()


async def runs_of(system: System, student_ids: list[str]) -> int:
    quoted = ", ".join(f'"{student_id}"' for student_id in student_ids)
    return (await system.temporal.count_workflows(f"StudentId IN ({quoted})")).count


async def test_events_published_while_temporal_is_down_all_start_their_sagas_once_it_is_back(
    system: System, intake: IntakeProcess, producer: Registry, broker_url: str
) -> None:
    dead_letters_before = await dead_letter_count(broker_url)
    events = [student_created() for _ in range(50)]
    student_ids = [event["student_id"] for event in events]

    await system.kill("temporal")
    for event in events:
        await publish_event(producer, event)
    await asyncio.sleep(TEMPORAL_DOWN_SECONDS)
    await system.restart("temporal")
    states = await system.wait_for_all(student_ids, timeout=240)

    assert {states[student_id].status for student_id in student_ids} == {SagaStatus.COMPLETED}
    assert await runs_of(system, student_ids) == 50
    assert await dead_letter_count(broker_url) == dead_letters_before
    assert any("redelivered in" in line for line in intake.output)  # Temporal was missed
    await assert_invariants_hold(system)


async def test_an_intake_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    system: System, intake: IntakeProcess, producer: Registry, broker_url: str
) -> None:
    events = [student_created() for _ in range(60)]
    student_ids = [event["student_id"] for event in events]

    for event in events[:30]:
        await publish_event(producer, event)
    await system.wait_for(
        lambda: _at_least(runs_of(system, student_ids), 5), "some sagas to start", 60
    )
    intake.kill()
    for event in events[30:]:
        await publish_event(producer, event)
    await asyncio.to_thread(intake.start)
    states = await system.wait_for_all(student_ids, timeout=240)

    assert {states[student_id].status for student_id in student_ids} == {SagaStatus.COMPLETED}
    assert await runs_of(system, student_ids) == 60
    charges = [
        (await system.billing.get("/charges", params={"student_id": student_id})).json()
        for student_id in student_ids
    ]
    assert [len(of_student) for of_student in charges] == [1] * 60
    await assert_invariants_hold(system)


async def _at_least(count: Awaitable[int], minimum: int) -> bool:
    return await count >= minimum
