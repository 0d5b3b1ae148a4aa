"""`saga check` (as a script and as `python -m orchestrator.ops.cli check`) against the real
stack: exit 0 on a consistent system, 1 naming the violation once a seat is held under the keys
of no saga, 4 when Temporal cannot be reached."""

import asyncio
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from devstack.system import System
from tests.reliability.conftest import FAST
from workflows.contracts import WORKFLOW_ID_PREFIX

GHOST_KEY = f"{WORKFLOW_ID_PREFIX}ghost:no-such-run:reserve_seat"
SAGA_CLI = Path(sysconfig.get_path("scripts")) / "saga"


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=os.environ | {"COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def module_with_environment(system: System) -> subprocess.CompletedProcess[str]:
    settings = system.settings
    env = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "ENROLLMENT_URL": settings.enrollment_url,
        "BILLING_URL": settings.billing_url,
    }
    return run([sys.executable, "-m", "orchestrator.ops.cli", "check"], env)


def saga_check_with_options(system: System, address: str) -> subprocess.CompletedProcess[str]:
    settings = system.settings
    return run(
        [
            str(SAGA_CLI),
            "check",
            f"--address={address}",
            f"--enrollment-url={settings.enrollment_url}",
            f"--billing-url={settings.billing_url}",
        ]
    )


async def test_the_checker_command_passes_a_consistent_system_and_fails_on_a_stray_seat(
    system: System,
) -> None:
    await system.wait_for_terminal(await system.start_saga(deadlines=FAST))
    assert await system.wait_until_quiet(timeout=120)
    address = system.settings.temporal_address

    clean = await asyncio.to_thread(module_with_environment, system)
    stray = await system.enrollment.post(
        "/enrollments",
        json={"student_id": "ghost", "course_id": "CS101"},
        headers={"Idempotency-Key": GHOST_KEY},
    )
    assert stray.status_code == 201
    try:
        dirty = await asyncio.to_thread(saga_check_with_options, system, address)
    finally:
        await system.enrollment.post(f"/enrollments/{stray.json()['enrollment_id']}/cancel")
    unreachable = await asyncio.to_thread(saga_check_with_options, system, "127.0.0.1:1")

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "sagas COMPLETED" in clean.stdout
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "resource-without-saga" in dirty.stdout
    assert "ghost" in dirty.stdout
    assert unreachable.returncode == 4
    assert "cannot reach Temporal" in unreachable.stdout
