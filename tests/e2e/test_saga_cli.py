"""The `saga` command, as installed by `make install`, against the running system.

Each call is a real subprocess of the installed entry point, so exit codes are the ones a shell
sees (including after the Temporal client's teardown, temporalio/sdk-python#300).
"""

import asyncio
import os
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import httpx
import pytest

from sagas import SagaStatus
from tests.e2e.conftest import System, new_student, run_saga
from tests.support.credentials import SERVICE_HEADERS, TEST_API_KEY
from tests.support.faulty_proxy import FaultPlan
from tests.support.servers import free_port
from tests.support.temporal import TEST_PAYLOAD_KEYS

SAGA = Path(sysconfig.get_path("scripts")) / "saga"


async def saga(
    system: System, *args: str, api_url: str | None = None, api_key: str | None = TEST_API_KEY
) -> subprocess.CompletedProcess[str]:
    env = {
        **{name: value for name, value in os.environ.items() if name != "SAGA_API_KEY"},
        "SAGA_API_URL": api_url or str(system.api.base_url),
        "TEMPORAL_ADDRESS": system.temporal.service_client.config.target_host,
        "PAYLOAD_KEYS": TEST_PAYLOAD_KEYS,  # the system's payloads are encrypted
        "COLUMNS": "250",  # rich wraps tables to the terminal's width; keep ids on one line
    } | ({"SAGA_API_KEY": api_key} if api_key else {})
    return await asyncio.to_thread(
        subprocess.run,
        [str(SAGA), *args],
        env=env,
        cwd="/",  # the installed command, not the checkout on sys.path
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_compensated_saga_is_found_listed_retried_and_completed_with_the_cli(
    system: System,
) -> None:
    student = new_student(payment_token="tok_declined")
    student_id = student["student_id"]
    await run_saga(system, student)

    listed = await saga(system, "list", "--status", "COMPENSATED", "--limit", "1000")
    retried = await saga(system, "retry", student_id, "--payment-token", "tok_visa")
    await system.wait_for_terminal(student_id)
    status = await saga(system, "status", student_id)

    assert listed.returncode == 0, listed.stderr
    assert student_id in listed.stdout
    assert retried.returncode == 0, retried.stderr
    assert "Saga retried" in retried.stdout and "previous_run_id" in retried.stdout
    assert status.returncode == 0, status.stderr
    assert SagaStatus.COMPLETED in status.stdout and "confirm_enrollment" in status.stdout


async def test_a_student_started_with_the_cli_is_onboarded(system: System) -> None:
    student_id = new_student()["student_id"]

    started = await saga(
        system,
        "start",
        "--student-id",
        student_id,
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--course-id",
        "CS101",
        "--payment-token",
        "tok_visa",
    )

    assert started.returncode == 0, started.stderr
    assert f"student-onboarding-{student_id}" in started.stdout
    assert (await system.wait_for_terminal(student_id))["status"] == SagaStatus.COMPLETED


async def test_a_bulk_dry_run_with_the_cli_lists_and_starts_nothing(system: System) -> None:
    student = new_student(payment_token="tok_declined")
    await run_saga(system, student)
    query = f"StudentId = '{student['student_id']}'"

    dry_run = await saga(system, "retry", "--query", query, "--dry-run")

    assert dry_run.returncode == 0, dry_run.stderr
    assert "would-retry" in dry_run.stdout
    assert "0 retried, 1 would be retried, 0 skipped" in dry_run.stdout
    assert (await system.api.get(f"/sagas/{student['student_id']}")).json()["status"] == (
        SagaStatus.COMPENSATED
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["status", "nobody-at-all"], 1, "404"),
        (["retry", "nobody-at-all"], 1, "404"),
        (["start", "--name", "A", "--email", "nope", "--course-id", "CS101",
          "--payment-token", "tok_visa"], 1, "body.email"),
        (["retry"], 2, "either a SAGA_ID or --query"),
        (["reset", "someone", "--step", "not_a_step"], 2, "not_a_step"),
        (["retry", "--query", "StudentId = 'nobody-at-all'"], 3, "nothing matched"),
        (["reset", "nobody-at-all", "--step", "reserve_seat"], 1, "No saga"),
    ],
)  # fmt: skip
async def test_the_cli_exits_with_a_code_that_says_what_went_wrong(
    system: System, args: list[str], code: int, message: str
) -> None:
    result = await saga(system, *args)

    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr


async def test_the_cli_says_when_the_api_cannot_be_reached(system: System) -> None:
    result = await saga(system, "status", "x", api_url=f"http://127.0.0.1:{free_port()}")

    assert result.returncode == 4
    assert "cannot reach the API" in result.stderr


async def test_without_an_api_key_the_cli_is_refused_and_says_which_setting_to_set(
    system: System,
) -> None:
    result = await saga(system, "list", api_key=None)

    assert result.returncode == 1
    assert "401" in result.stderr
    assert "SAGA_API_KEY" in result.stderr


async def a_saga_whose_refund_is_rejected(system: System, faults: FaultPlan) -> str:
    """The enrollment is cancelled while tuition is charged, so confirming fails and the saga
    refunds; billing rejects the refund as malformed (a bug): the saga waits for an operator."""
    enrollment_url = str(system.enrollment.base_url)

    async def cancel_the_enrollment_first(charge_request: dict[str, Any]) -> None:
        async with httpx.AsyncClient(
            base_url=enrollment_url, headers=SERVICE_HEADERS
        ) as enrollment:
            await enrollment.post(f"/enrollments/{charge_request['enrollment_id']}/cancel")

    faults.before("POST", "/charges", cancel_the_enrollment_first)
    faults.fail_next("POST", "/charges/by-key/*/refund", times=1, status=400)
    student = new_student()
    assert (await system.api.post("/students", json=student)).status_code == 202
    waiting = await system.wait_for_status(student["student_id"], SagaStatus.COMPENSATION_FAILED)
    assert waiting["current_step"] == "refund_charge"
    assert waiting["undo_failure"]["kind"] == "compensation-failed"
    [charge] = await system.charges_of(student["student_id"])
    assert charge["status"] == "CAPTURED"
    return student["student_id"]


async def test_a_saga_whose_undo_was_rejected_is_resumed_once_the_cause_is_fixed(
    system: System, faults: FaultPlan
) -> None:
    student_id = await a_saga_whose_refund_is_rejected(system, faults)

    resumed = await saga(system, "resume-compensation", student_id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout
    saga_state = await system.wait_for_terminal(student_id)
    assert saga_state["status"] == SagaStatus.COMPENSATED
    assert saga_state["compensated_steps"] == ["refund_charge", "cancel_enrollment"]
    assert saga_state["undo_failure"] is None
    [charge] = await system.charges_of(student_id)
    assert charge["status"] == "REFUNDED"
    # Nothing to resume any more: refused, and said so.
    again = await saga(system, "resume-compensation", student_id)
    assert again.returncode == 1
    assert "saga-not-resumable" in again.stderr or "Nothing to resume" in again.stderr


async def test_a_saga_whose_undo_was_rejected_can_also_be_reset_to_that_undo(
    system: System, faults: FaultPlan
) -> None:
    student_id = await a_saga_whose_refund_is_rejected(system, faults)

    reset = await saga(system, "reset", student_id, "--step", "refund_charge", "--reason", "fixed")

    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "reset to refund_charge" in reset.stdout
    saga_state = await system.wait_for_terminal(student_id)
    assert saga_state["status"] == SagaStatus.COMPENSATED
    assert saga_state["compensated_steps"] == ["refund_charge", "cancel_enrollment"]
    [charge] = await system.charges_of(student_id)
    assert charge["status"] == "REFUNDED"
    # Now the run has undone its steps: running one again under the same keys is refused.
    again = await saga(system, "reset", student_id, "--step", "reserve_seat")
    assert again.returncode == 1
    assert "Retry the saga instead" in again.stderr
