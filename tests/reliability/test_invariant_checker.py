"""`python -m orchestrator.invariants` against the real stack: silent on a consistent system,
exit status 1 and the violation named once a seat is held under the keys of no saga."""

import asyncio
import os
import subprocess
import sys

from devstack.system import System
from tests.reliability.conftest import FAST
from workflows.contracts import WORKFLOW_ID_PREFIX

GHOST_KEY = f"{WORKFLOW_ID_PREFIX}ghost:no-such-run:reserve_seat"


def run_checker(system: System) -> subprocess.CompletedProcess[str]:
    settings = system.settings
    env = os.environ | {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "ENROLLMENT_URL": settings.enrollment_url,
        "BILLING_URL": settings.billing_url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.invariants"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_checker_command_passes_a_consistent_system_and_fails_on_a_stray_seat(
    system: System,
) -> None:
    await system.wait_for_terminal(await system.start_saga(deadlines=FAST))
    assert await system.wait_until_quiet(timeout=120)

    clean = await asyncio.to_thread(run_checker, system)
    stray = await system.enrollment.post(
        "/enrollments",
        json={"student_id": "ghost", "course_id": "CS101"},
        headers={"Idempotency-Key": GHOST_KEY},
    )
    assert stray.status_code == 201
    try:
        dirty = await asyncio.to_thread(run_checker, system)
    finally:
        await system.enrollment.post(f"/enrollments/{stray.json()['enrollment_id']}/cancel")

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "sagas COMPLETED" in clean.stdout
    assert dirty.returncode == 1
    assert "resource-without-saga" in dirty.stdout
    assert "ghost" in dirty.stdout
