"""Checking a new worker build against a running server: `saga replay`
fetches recent histories by visibility query and replays them on this checkout's code."""

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import System, new_student, run_saga
from tests.support.temporal import TEST_PAYLOAD_KEYS
from workflows.contracts import workflow_id_for

REPOSITORY = Path(__file__).resolve().parents[2]


def replay_command(system: System, query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.ops.cli",
            "replay",
            "--address",
            system.temporal.service_client.config.target_host,
            "--query",
            query,
        ],
        cwd=REPOSITORY,
        env=os.environ | {"PAYLOAD_KEYS": TEST_PAYLOAD_KEYS},  # the system's histories are sealed
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_recent_sagas_on_the_server_replay_on_this_build(system: System) -> None:
    completed = new_student()
    declined = new_student(payment_token="tok_declined")
    assert (await run_saga(system, completed))["status"] == "COMPLETED"
    assert (await run_saga(system, declined))["status"] == "COMPENSATED"
    ids = [workflow_id_for(s["student_id"]) for s in (completed, declined)]

    result = replay_command(system, f"WorkflowId IN ('{ids[0]}', '{ids[1]}')")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 histories replayed, 0 not replayable" in result.stdout
    assert all(f"ok    {workflow_id}" in result.stdout for workflow_id in ids)


async def test_a_query_that_matches_nothing_is_not_a_pass(system: System) -> None:
    result = replay_command(system, "WorkflowId = 'student-onboarding-nobody'")

    assert result.returncode == 3
    assert "nothing was checked" in result.stderr


async def test_a_compensated_saga_shows_why_in_its_memo(system: System) -> None:
    student = new_student(payment_token="tok_declined")
    await run_saga(system, student)

    handle = system.temporal.get_workflow_handle(workflow_id_for(student["student_id"]))
    memo = await (await handle.describe()).memo()

    assert memo["failed_step"] == "charge_tuition"
    assert "declined" in memo["failure_reason"].lower()
