"""`make up`'s supervision on real processes: each process of the stack is SIGKILLed in turn from
outside, as `kill -9` would, while sagas are in flight (held there by injected latency); the
supervisor restarts it, the sagas finish as they should, and `saga check` finds 0 violations.

The package's stack (conftest.py) runs under a Supervisor for this module only: the other
modules kill and restart processes themselves. Its log is the stack's, in stack.log next to
its data dir.
"""

import asyncio
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import httpx
import pytest

from common.auth import bearer_headers
from devstack.stack import Stack
from devstack.supervision import Supervisor
from devstack.system import System
from sagas import TERMINAL_STATUSES, SagaStatus
from tests.reliability.conftest import FAST
from workflows.contracts import SagaState

# What each kill is timed against: a latency rule that holds sagas in a step of one service.
HELD_IN = {
    "worker": ("billing", "charge"),
    "billing": ("billing", "charge"),
    "enrollment": ("enrollment", "confirm"),
    "temporal": ("enrollment", "confirm"),
    "api": ("billing", "charge"),
    "nats": ("billing", "charge"),
}
HOLD_MS = 3000
TOKENS = ("tok_visa", "tok_visa", "tok_declined")
EXPECTED = [SagaStatus.COMPLETED, SagaStatus.COMPLETED, SagaStatus.COMPENSATED]
REPOSITORY = Path(__file__).resolve().parents[2]


class SupervisorThread:
    def __init__(self, stack: Stack) -> None:
        self.supervisor = Supervisor(stack)
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.supervisor.run()
        except BaseException as error:
            self.failure = error

    def stop(self) -> None:
        self.supervisor.stop()
        self._thread.join(timeout=120)


@pytest.fixture(scope="module")
def supervised(stack: Stack) -> Iterator[SupervisorThread]:
    thread = SupervisorThread(stack)
    yield thread
    thread.stop()
    assert thread.failure is None, f"the supervisor gave up: {thread.failure}"


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = bearer_headers(stack.secrets["SAGA_API_KEY"])
    async with httpx.AsyncClient(
        base_url=stack.settings.local_api_url, headers=headers, timeout=10
    ) as client:
        yield client


async def at_least(count: Awaitable[int], minimum: int) -> bool:
    return await count >= minimum


async def start_held_sagas(system: System, name: str) -> list[str]:
    """Sagas held in a step of a service by a latency rule, once they are all held there."""
    service, operation = HELD_IN[name]
    faults = system.faults[service]
    await faults.install(operation=operation, kind="latency", latency_ms=HOLD_MS)
    student_ids = [await system.start_saga(payment_token=t, deadlines=FAST) for t in TOKENS]
    held = TOKENS.count("tok_visa") if operation == "confirm" else len(TOKENS)
    await system.wait_for(lambda: at_least(faults.hits(operation), held), "the sagas to be held")
    return student_ids


async def start_through_the_api(api: httpx.AsyncClient, mode: str) -> str:
    student_id = f"sup-{uuid.uuid4().hex[:10]}"
    response = await api.post(
        "/students",
        json={
            "student_id": student_id,
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "course_id": "CS101",
            "payment_token": "tok_visa",
            "mode": mode,
        },
    )
    assert response.status_code == 202, response.text
    return student_id


async def final_state_through_the_api(
    system: System, api: httpx.AsyncClient, student_id: str
) -> SagaState:
    final: SagaState | None = None

    async def terminal() -> bool:
        nonlocal final
        try:
            response = await api.get(f"/sagas/{student_id}")
        except httpx.TransportError:
            return False  # the API is not back yet
        if response.status_code != 200:
            return False
        final = SagaState.model_validate(response.json())
        return final.status in TERMINAL_STATUSES

    await system.wait_for(terminal, f"the saga of {student_id} to end (read through the API)")
    assert final is not None
    return final


def restart_lines(stack: Stack, name: str) -> list[str]:
    log = stack.data_dir.parent / "stack.log"
    return [line for line in log.read_text().splitlines() if f"] {name} was killed" in line]


async def saga_check_finds_no_violation(system: System) -> None:
    """`saga check`, the CLI, once no saga runs: exit 0 and 0 violations."""
    assert await system.wait_until_quiet(timeout=120), "sagas still running"
    settings = system.settings
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPOSITORY),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "ENROLLMENT_URL": settings.enrollment_url,
        "BILLING_URL": settings.billing_url,
        "PAYLOAD_KEYS": system.stack.secrets["PAYLOAD_KEYS"],
        "SERVICE_TOKENS": system.stack.secrets["SERVICE_TOKENS"],
        "COLUMNS": "200",
    }
    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "orchestrator.ops.cli", "check"],
        env=environment,
        cwd=system.stack.data_dir,  # no repository .env to read
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r"violations\W+0\b", check.stdout), check.stdout


@pytest.mark.parametrize("name", ["worker", "billing", "enrollment", "temporal"])
async def test_a_process_killed_under_sagas_in_flight_comes_back_and_the_sagas_finish(
    supervised: SupervisorThread, system: System, name: str
) -> None:
    student_ids = await start_held_sagas(system, name)

    pid = await system.crash(name)
    await system.wait_until_back(name, pid)
    states = await system.wait_for_all(student_ids)

    assert [states[student_id].status for student_id in student_ids] == EXPECTED
    assert any("restarting (attempt" in line for line in restart_lines(system.stack, name))
    await saga_check_finds_no_violation(system)


async def test_a_killed_api_comes_back_and_answers_for_the_sagas_started_before(
    supervised: SupervisorThread, system: System, api: httpx.AsyncClient
) -> None:
    await system.faults["billing"].install(operation="charge", kind="latency", latency_ms=HOLD_MS)
    orchestrated = await start_through_the_api(api, "orchestration")
    choreographed = await start_through_the_api(api, "choreography")

    pid = await system.crash("api")
    await system.wait_until_back("api", pid)

    assert (await final_state_through_the_api(system, api, orchestrated)).status == (
        SagaStatus.COMPLETED
    )
    assert (await final_state_through_the_api(system, api, choreographed)).status == (
        SagaStatus.COMPLETED
    )
    await saga_check_finds_no_violation(system)


async def test_sagas_choreographed_while_nats_is_killed_finish_once_it_is_back(
    supervised: SupervisorThread, system: System, api: httpx.AsyncClient
) -> None:
    orchestrated = await start_held_sagas(system, "nats")

    pid = await system.crash("nats")
    choreographed = [await start_through_the_api(api, "choreography") for _ in range(2)]
    await system.wait_until_back("nats", pid)

    for student_id in choreographed:
        state = await final_state_through_the_api(system, api, student_id)
        assert state.status == SagaStatus.COMPLETED
    states = await system.wait_for_all(orchestrated)
    assert [states[student_id].status for student_id in orchestrated] == EXPECTED
    await saga_check_finds_no_violation(system)


async def test_a_worker_killed_with_temporal_is_started_again_only_once_temporal_is_ready(
    supervised: SupervisorThread, system: System
) -> None:
    student_ids = await start_held_sagas(system, "temporal")
    stack_log = system.stack.data_dir.parent / "stack.log"
    earlier = len(stack_log.read_text().splitlines())  # the module's earlier tests' lines

    temporal_pid = await system.crash("temporal")
    worker_pid = await system.crash("worker")
    await system.wait_until_back("temporal", temporal_pid)
    await system.wait_until_back("worker", worker_pid)
    states = await system.wait_for_all(student_ids)

    # The first of each since the kills: a later restart of Temporal must not hide the order.
    log = stack_log.read_text().splitlines()[earlier:]
    temporal_ready = next(i for i, line in enumerate(log) if "] temporal ready after" in line)
    worker_restarting = next(i for i, line in enumerate(log) if "] worker was killed" in line)
    assert temporal_ready < worker_restarting
    assert [states[student_id].status for student_id in student_ids] == EXPECTED
    await saga_check_finds_no_violation(system)


async def test_every_other_process_of_the_stack_comes_back_when_killed(
    supervised: SupervisorThread, system: System
) -> None:
    """The processes not covered above (the codec server, and any added later)."""
    others = [p.name for p in system.stack.processes if p.name not in HELD_IN]
    student_ids = await start_held_sagas(system, "worker")

    for name in others:
        pid = await system.crash(name)
        await system.wait_until_back(name, pid)
    states = await system.wait_for_all(student_ids)

    assert [states[student_id].status for student_id in student_ids] == EXPECTED
    await saga_check_finds_no_violation(system)
