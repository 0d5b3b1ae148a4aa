"""What only the choreographed saga has to get right: at-least-once delivery without repeated
effects, publishing across a broker outage, dead letters, and a tracker rebuilt from the log.

All against a real broker (embedded NATS; RabbitMQ with TEST_RABBITMQ_URL) and real services.
"""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine

from choreography.bus import NatsBus, create_bus
from choreography.config import BrokerConfig
from choreography.events import Event, StudentCreated, to_json
from choreography.operations import list_dead_letters
from choreography.topology import BILLING, ENROLLMENT
from choreography.tracker import all_views
from common.database import create_database_engine
from orchestrator.config import OrchestratorSettings
from orchestrator.ops.invariants import check
from sagas import SagaStatus
from tests.e2e.conftest import FULL_COURSE, System, new_student, run_saga
from tests.support.broker import drop_rabbitmq_connections
from tests.support.logs import json_log_lines
from tests.support.metrics import scrape, value

CHOREOGRAPHY = "choreography"


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def publish_a_copy(system: System, event: Event) -> None:
    """Publish the event again, as a redelivery the broker cannot recognise as one (on NATS: a
    new message id, as after its duplicate window)."""
    assert system.broker is not None
    bus = create_bus(system.broker)
    await bus.start()
    try:
        if isinstance(bus, NatsBus):
            await bus.broker.publish(
                to_json(event),
                bus.subject(event.type),
                headers={"Nats-Msg-Id": str(uuid.uuid4())},
                stream=bus.events_stream.name,
            )
        else:
            await bus.publish(event.type, event.event_id, to_json(event))
    finally:
        await bus.close()


async def test_an_effect_whose_ack_was_lost_is_not_repeated_on_redelivery(
    choreographed: System,
) -> None:
    system = choreographed
    system.delivery_faults.crash_after_effect(ENROLLMENT, "StudentCreated")
    system.delivery_faults.crash_after_effect(BILLING, "SeatReserved")
    seats_before = await system.seats_taken()
    student = new_student()

    saga = await run_saga(system, student, CHOREOGRAPHY)
    # The saga went on as soon as the effects committed; the redeliveries come on their own.
    faults = system.delivery_faults
    await wait_until(
        lambda: _true(
            faults.handled_count(ENROLLMENT, "StudentCreated") == 2
            and faults.handled_count(BILLING, "SeatReserved") == 2
        )
    )

    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.enrollments_of(student["student_id"])) == 1
    assert len(await system.charges_of(student["student_id"])) == 1
    assert await system.seats_taken() == seats_before + 1


async def test_a_redelivered_event_changes_nothing(choreographed: System) -> None:
    system = choreographed
    student = new_student()
    await run_saga(system, student, CHOREOGRAPHY)
    seats_before = await system.seats_taken()
    handled_before = system.delivery_faults.handled_count(ENROLLMENT, "StudentCreated")

    await publish_a_copy(system, StudentCreated(**student))
    await wait_until(
        lambda: _true(
            system.delivery_faults.handled_count(ENROLLMENT, "StudentCreated") > handled_before
        )
    )

    assert len(await system.enrollments_of(student["student_id"])) == 1
    assert len(await system.charges_of(student["student_id"])) == 1
    assert await system.seats_taken() == seats_before
    saga = (await system.api.get(f"/sagas/{student['student_id']}")).json()
    assert saga["status"] == SagaStatus.COMPLETED


async def test_an_event_that_keeps_failing_ends_in_the_dead_letters(
    choreographed: System,
) -> None:
    system = choreographed
    assert system.broker is not None
    system.delivery_faults.fail_next(ENROLLMENT, "StudentCreated", times=1_000)
    student = new_student()
    with json_log_lines() as lines:
        response = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
        assert response.status_code == 202

        bus = create_bus(system.broker)
        await bus.start()
        try:

            async def dead_lettered() -> bool:
                letters = await bus.dead_letters()
                return any(letter.student_id == student["student_id"] for letter in letters)

            await wait_until(dead_lettered)
        finally:
            await bus.close()

    letters = await list_dead_letters(system.broker)
    [letter] = [letter for letter in letters if letter.student_id == student["student_id"]]
    assert (letter.consumer, letter.event_type) == (ENROLLMENT, "StudentCreated")
    assert letter.attempts == system.broker.max_attempts
    assert "injected failure" in letter.error
    # Each failed attempt and the dead-lettering were logged, naming the saga's student.
    failures = [line for line in lines if line["logger"] == "choreography.bus"]
    about_it = [line for line in failures if student["student_id"] in line["message"]]
    assert len(about_it) == letter.attempts
    assert all(line.get("student_id") == student["student_id"] for line in about_it)
    assert system.delivery_faults.count(ENROLLMENT, "StudentCreated") == letter.attempts
    assert await system.enrollments_of(student["student_id"]) == []
    saga = (await system.api.get(f"/sagas/{student['student_id']}")).json()
    assert (saga["status"], saga["current_step"]) == (SagaStatus.RUNNING, "reserve_seat")
    listed = await asyncio.to_thread(dead_letters_command, system.broker)
    assert listed.returncode == 0, listed.stderr
    assert student["student_id"] in listed.stdout


def dead_letters_command(broker: BrokerConfig) -> subprocess.CompletedProcess[str]:
    return choreography_command(broker, "dead-letters")


def choreography_command(
    broker: BrokerConfig, command: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`python -m choreography <command>` as an operator runs it, on the test's
    broker."""
    env = {
        **os.environ,
        "BROKER_URL": broker.url,
        "BROKER_NAMESPACE": broker.namespace,
        "BROKER_MAX_ATTEMPTS": str(broker.max_attempts),
        "COLUMNS": "400",
        **settings,
    }
    arguments = [sys.executable, "-m", "choreography", command]
    return subprocess.run(arguments, env=env, capture_output=True, text=True, timeout=60)


async def test_a_saga_started_while_the_broker_is_down_runs_once_it_is_back(
    system: System,
) -> None:
    assert system.nats is not None
    student = new_student()
    await asyncio.to_thread(system.nats.stop)
    try:
        response = await system.api.post("/students", json={**student, "mode": CHOREOGRAPHY})
        assert response.status_code == 202
        saga = (await system.api.get(f"/sagas/{student['student_id']}")).json()
        assert saga["status"] == SagaStatus.RUNNING
    finally:
        await asyncio.to_thread(system.nats.start)

    saga = await system.wait_for_terminal(student["student_id"])

    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.charges_of(student["student_id"])) == 1


async def test_a_broker_restart_in_the_middle_of_a_saga_loses_and_repeats_nothing(
    system: System,
) -> None:
    nats = system.nats
    assert nats is not None
    restarted = asyncio.Event()

    async def restart_the_broker_once(_: Event) -> None:
        if not restarted.is_set():
            restarted.set()
            await asyncio.to_thread(nats.restart)

    system.delivery_faults.clear()
    system.delivery_faults.before(BILLING, "SeatReserved", restart_the_broker_once)
    try:
        student = new_student()
        saga = await run_saga(system, student, CHOREOGRAPHY)
    finally:
        system.delivery_faults.clear()

    assert restarted.is_set()
    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.enrollments_of(student["student_id"])) == 1
    assert len(await system.charges_of(student["student_id"])) == 1


async def test_rabbitmq_connections_lost_in_the_middle_of_a_saga_lose_and_repeat_nothing(
    rabbitmq_system: System,
) -> None:
    system = rabbitmq_system
    assert system.broker is not None
    ns = system.broker.namespace
    drops: list[Future[int]] = []
    dropper = ThreadPoolExecutor(max_workers=1)

    async def drop_every_connection_once(_: Event) -> None:
        # The connection loss cancels this very delivery (in billing's own event loop), so the
        # drop runs in a thread of its own, once; the delivery comes again after reconnecting.
        if not drops:
            drops.append(dropper.submit(drop_rabbitmq_connections, ns))
            await asyncio.shield(asyncio.wrap_future(drops[0]))

    system.delivery_faults.clear()
    system.delivery_faults.before(BILLING, "SeatReserved", drop_every_connection_once)
    try:
        student = new_student()
        saga = await run_saga(system, student, CHOREOGRAPHY)
    finally:
        system.delivery_faults.clear()
        dropper.shutdown(wait=True)

    assert drops[0].result(timeout=60) >= 3  # enrollment's, billing's and the API's at least
    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.enrollments_of(student["student_id"])) == 1
    assert len(await system.charges_of(student["student_id"])) == 1


async def test_the_tracker_rebuilt_by_replaying_the_stream_equals_the_live_one(
    choreographed: System, tmp_path: Path
) -> None:
    system = choreographed
    assert system.broker is not None and system.api_database_url is not None
    for student in (
        new_student(),
        new_student(payment_token="tok_declined"),
        new_student(course_id=FULL_COURSE.course_id),
    ):
        await run_saga(system, student, CHOREOGRAPHY)
    live_engine = create_database_engine(system.api_database_url)
    rebuilt_url = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    # The API owns its database's schema: on one it never migrated, the tool says so.
    unmigrated = await asyncio.to_thread(
        choreography_command, system.broker, "rebuild-tracker", DATABASE_URL=rebuilt_url
    )
    assert unmigrated.returncode == 2
    assert "python -m orchestrator db upgrade head" in unmigrated.stderr
    migrate = [sys.executable, "-m", "orchestrator", "db", "upgrade", "head"]
    migrated = subprocess.run(
        migrate, env={**os.environ, "DATABASE_URL": rebuilt_url}, capture_output=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr

    rebuilt_command = await asyncio.to_thread(
        choreography_command, system.broker, "rebuild-tracker", DATABASE_URL=rebuilt_url
    )

    assert rebuilt_command.returncode == 0, rebuilt_command.stderr
    replayed = int(rebuilt_command.stdout.split("Tracker rebuilt from ")[1].split(" ")[0])
    live, rebuilt = _views(live_engine), _views(create_database_engine(rebuilt_url))
    assert replayed >= 3 * 2
    assert len(live) >= 3
    assert rebuilt == live


def _views(engine: Engine) -> dict[str, str]:
    views = {student: state.model_dump_json() for student, state in all_views(engine).items()}
    engine.dispose()
    return views


async def _true(value: bool) -> bool:
    return value


async def test_a_compensated_saga_retried_with_a_corrected_card_completes_in_a_new_run(
    choreographed: System,
) -> None:
    system = choreographed
    student = new_student(payment_token="tok_declined")
    declined = await run_saga(system, student, CHOREOGRAPHY)
    assert declined["status"] == SagaStatus.COMPENSATED
    student_id = student["student_id"]

    retried = await system.api.post(
        f"/sagas/{student_id}/retry", json={"payment_token": "tok_visa"}
    )
    assert retried.status_code == 202, retried.text
    saga = await system.wait_for_terminal(student_id)

    assert (retried.json()["previous_run_id"], retried.json()["run_id"]) == ("1", "2")
    assert saga["status"] == SagaStatus.COMPLETED
    enrollments = await system.enrollments_of(student_id)
    assert sorted(e["status"] for e in enrollments) == ["CANCELLED", "CONFIRMED"]
    [charge] = await system.charges_of(student_id)
    assert charge["status"] == "CAPTURED"
    assert charge["idempotency_key"] == f"choreography:r2/{student_id}:charge_tuition"
    again = await system.api.post(f"/sagas/{student_id}/retry")
    assert again.status_code == 409
    assert again.json()["type"].endswith("saga-not-retryable")


async def test_the_invariant_checker_checks_every_run_of_the_choreographed_sagas(
    system: System,
) -> None:
    assert system.broker is not None and system.api_database_url is not None
    settings = OrchestratorSettings(
        temporal_address=system.temporal.service_client.config.target_host,
        enrollment_url=str(system.enrollment.base_url),
        billing_url=str(system.billing.base_url),
        broker_url=system.broker.url,
        database_url=system.api_database_url,
    )
    retried, broken = new_student(payment_token="tok_declined"), new_student()
    await run_saga(system, retried, CHOREOGRAPHY)
    await system.api.post(
        f"/sagas/{retried['student_id']}/retry", json={"payment_token": "tok_visa"}
    )
    await system.wait_for_terminal(retried["student_id"])
    await run_saga(system, broken, CHOREOGRAPHY)
    [charge] = await system.charges_of(broken["student_id"])
    # Behind the saga's back: a COMPLETED saga whose money went back.
    refunded = await system.billing.post(f"/charges/{charge['charge_id']}/refund")
    assert refunded.status_code == 200

    report = await check(system.temporal, settings, expect_quiet=False)

    about = {(v.rule, v.subject) for v in report.violations}
    assert ("completed-not-charged-once", f"choreography:{broken['student_id']}") in about
    assert not [subject for _, subject in about if retried["student_id"] in subject]
    assert report.sagas_by_status["COMPLETED"] >= 2 and report.sagas_by_status["COMPENSATED"] >= 1


async def test_the_api_counts_choreographed_outcomes_and_durations_as_the_worker_does(
    choreographed: System,
) -> None:
    url = str(choreographed.api.base_url.join("/metrics"))
    before = await scrape(url)

    completed = await run_saga(choreographed, new_student(), mode="choreography")
    declined = await run_saga(
        choreographed, new_student(payment_token="tok_declined"), mode="choreography"
    )
    after = await scrape(url)

    def moved(name: str, **labels: str) -> float:
        labels = {"saga_type": "student-onboarding", **labels}
        return value(after, name, **labels) - value(before, name, **labels)

    assert (completed["status"], declined["status"]) == ("COMPLETED", "COMPENSATED")
    # GET /sagas/{id} names a choreographed saga as it names an orchestrated one.
    assert (completed["saga_id"], completed["saga_type"]) == (
        completed["student_id"],
        "student-onboarding",
    )
    assert moved("saga_outcomes_total", outcome="completed", failed_step="none") == 1
    assert moved("saga_outcomes_total", outcome="compensated", failed_step="charge_tuition") == 1
    assert moved("saga_duration_count", outcome="completed", failed_step="none") == 1
    assert moved("saga_duration_sum", outcome="completed", failed_step="none") > 0
