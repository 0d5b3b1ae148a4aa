"""`saga choreography dead-letters` and `saga choreography redrive` (the same app as
`python -m choreography`), as installed by `make install`, against the running system on each
broker: an operator finds the event a consumer gave up on, sees what a redrive would send,
sends it once the cause is fixed, inside NATS's duplicate window, and the saga completes once,
holding one seat."""

import asyncio
import json
import os
import subprocess
import sysconfig
import time
from pathlib import Path

from choreography.config import BrokerConfig
from choreography.operations import list_dead_letters
from choreography.topology import ENROLLMENT
from sagas import SagaStatus
from tests.e2e.conftest import System, new_student

SAGA = Path(sysconfig.get_path("scripts")) / "saga"


async def saga_choreography(broker: BrokerConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "SAGA_BROKER_"))},
        "BROKER_URL": broker.url,
        "BROKER_NAMESPACE": broker.namespace,
        # The services' own: RabbitMQ refuses a queue declared with another delivery limit.
        "BROKER_MAX_ATTEMPTS": str(broker.max_attempts),
        "COLUMNS": "250",  # rich wraps tables to the terminal's width; keep ids on one line
    }
    return await asyncio.to_thread(
        subprocess.run,
        [str(SAGA), "choreography", *args],
        env=env,
        cwd="/",  # the installed command, not the checkout on sys.path
        capture_output=True,
        text=True,
        timeout=120,
    )


async def dead_lettered(broker: BrokerConfig, student_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(letter.student_id == student_id for letter in await list_dead_letters(broker)):
        assert time.monotonic() < deadline, "no dead letter"
        await asyncio.sleep(0.1)


async def test_an_operator_lists_a_dead_letter_and_redrives_it_with_the_saga_cli(
    choreographed: System,
) -> None:
    system = choreographed
    assert system.broker is not None
    broker = system.broker
    system.delivery_faults.fail_next(ENROLLMENT, "StudentCreated", times=1_000)
    seats_before = await system.seats_taken()
    student = new_student()
    student_id = student["student_id"]
    posted = await system.api.post("/students", json={**student, "mode": "choreography"})
    assert posted.status_code == 202
    await dead_lettered(broker, student_id)

    listed = await saga_choreography(broker, "dead-letters", "--json")
    dry_run = await saga_choreography(broker, "redrive", "--student", student_id, "--dry-run")
    system.delivery_faults.clear()  # the cause is fixed
    redriven = await saga_choreography(broker, "redrive", "--student", student_id)
    saga = await system.wait_for_terminal(student_id)
    again = await saga_choreography(broker, "redrive", "--student", student_id)

    assert listed.returncode == 0, listed.stderr
    [letter] = [
        letter for letter in json.loads(listed.stdout) if letter["student_id"] == student_id
    ]
    assert (letter["consumer"], letter["event_type"]) == (ENROLLMENT, "StudentCreated")
    assert letter["attempts"] == broker.max_attempts
    assert dry_run.returncode == 0, dry_run.stderr
    assert "1 dead letter(s) would be redriven" in dry_run.stdout
    assert redriven.returncode == 0, redriven.stderr
    assert "1 dead letter(s) redriven" in redriven.stdout
    assert saga["status"] == SagaStatus.COMPLETED
    assert len(await system.enrollments_of(student_id)) == 1
    assert await system.seats_taken() == seats_before + 1
    assert not any(letter.student_id == student_id for letter in await list_dead_letters(broker))
    assert (again.returncode, again.stderr.strip()) == (3, "error: no dead letter matched")
