"""Run every saga scenario on real parts and save each workflow history for the replay tests.

    python -m tests.support.record_histories --out tests/histories

Starts its own Temporal dev server, enrollment and billing (SQLite in a temporary directory),
the fault-injecting proxy in front of billing and a saga worker, all on free ports (the wiring
of the e2e tests, from tests/support/stack.py). Each scenario checks that it really ended the
way it claims before its history is written, so a committed file is what its name says.
`tests/unit/test_replay.py` replays every file on the current workflow code.
"""

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from orchestrator.config import OrchestratorSettings
from orchestrator.ops.histories import save_history
from orchestrator.recovery import retry_saga
from orchestrator.sagas import start, start_saga
from orchestrator.worker.main import saga_worker
from sagas import SagaDeadlines, SagaStatus
from tests.support.stack import (
    FULL_COURSE,
    SAME_PRICE_COURSE,
    ServiceUrls,
    orchestrator_settings,
    running_services,
    start_dev_server,
    worker_settings,
)
from tests.support.temporal import student, unique_task_queue
from workflows import registry
from workflows.contracts import SagaCorrections, SagaState, Step
from workflows.transfer import CourseTransfer, TransferInput, TransferState

SAGA_TIMEOUT = timedelta(seconds=90)
# Short attempts, so the attempt a crashed worker took is retried after seconds, not 15 s.
CRASH_DEADLINES = SagaDeadlines(step_seconds=60, attempt_seconds=3, max_retry_interval_seconds=1)
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    client: Client
    settings: OrchestratorSettings
    services: ServiceUrls

    async def run_saga(
        self, student_id: str, deadlines: SagaDeadlines | None = None, **event: str
    ) -> tuple[SagaState, WorkflowHistory]:
        """Start the student's saga the way the API does; its final state and history."""
        started = await start_saga(
            self.client,
            self.settings.task_queue,
            student(student_id=student_id, **event),
            deadlines,
        )
        return await self.finished(started.workflow_id, started.run_id)

    async def finished(self, workflow_id: str, run_id: str) -> tuple[SagaState, WorkflowHistory]:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id, result_type=SagaState)
        state = await asyncio.wait_for(handle.result(), SAGA_TIMEOUT.total_seconds())
        return state, await handle.fetch_history()

    async def run_transfer(
        self, student_id: str, from_course: str, to_course: str, payment_token: str = "tok_visa"
    ) -> tuple[TransferState, WorkflowHistory]:
        """Onboard the student into `from_course`, then transfer them as POST /transfers does."""
        onboarded, _ = await self.run_saga(student_id, course_id=from_course)
        expect(onboarded.status is SagaStatus.COMPLETED, f"onboarded, got {onboarded}")
        async with httpx.AsyncClient(base_url=self.services.enrollment) as enrollment:
            found = await enrollment.get(
                "/enrollments", params={"student_id": student_id, "course_id": from_course}
            )
        [enrolled] = found.json()
        started = await start(
            self.client,
            self.settings.task_queue,
            registry.TRANSFER,
            TransferInput(
                transfer=CourseTransfer(
                    student_id=student_id,
                    from_course_id=from_course,
                    to_course_id=to_course,
                    payment_token=payment_token,
                ),
                from_enrollment_id=enrolled["enrollment_id"],
                from_tuition_cents=enrolled["tuition_cents"],
                currency=enrolled["currency"],
            ),
        )
        handle = self.client.get_workflow_handle(
            started.workflow_id, run_id=started.run_id, result_type=TransferState
        )
        state = await asyncio.wait_for(handle.result(), SAGA_TIMEOUT.total_seconds())
        return state, await handle.fetch_history()


Scenario = Callable[[Stack], Awaitable[WorkflowHistory]]


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"scenario did not behave as expected: {what}")


async def completed(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_saga("history-completed")
    expect(state.status is SagaStatus.COMPLETED, f"completed, got {state}")
    return history


async def declined(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_saga("history-declined", payment_token="tok_declined")
    expect(state.compensated_steps == [Step.CANCEL_ENROLLMENT], f"seat released, got {state}")
    return history


async def course_full(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_saga("history-course-full", course_id=FULL_COURSE.course_id)
    expect(state.failed_step is Step.RESERVE_SEAT, f"refused seat, got {state}")
    expect(state.status is SagaStatus.COMPENSATED, f"compensated, got {state}")
    return history


async def confirm_refused(stack: Stack) -> WorkflowHistory:
    """The enrollment is cancelled behind the saga's back while tuition is charged, so the
    confirmation is refused after the money was taken: refund, then cancel."""
    enrollment_url, headers = stack.services.enrollment, stack.settings.service_headers()

    # The hook runs in the proxy's own thread and event loop, hence its own client.
    async def cancel_the_enrollment_first(charge_request: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=enrollment_url, headers=headers) as enrollment:
            await enrollment.post(f"/enrollments/{charge_request['enrollment_id']}/cancel")

    stack.services.billing_faults.before("POST", "/charges", cancel_the_enrollment_first)
    state, history = await stack.run_saga("history-confirm-refused")
    expect(
        state.compensated_steps == [Step.REFUND_CHARGE, Step.CANCEL_ENROLLMENT],
        f"refund then cancel, got {state}",
    )
    return history


async def transient_billing_outage(stack: Stack) -> WorkflowHistory:
    stack.services.billing_faults.fail_next("POST", "/charges", times=3)
    state, history = await stack.run_saga("history-transient-billing-outage")
    expect(state.status is SagaStatus.COMPLETED, f"completed after retries, got {state}")
    expect(stack.services.billing_faults.count("POST", "/charges") == 4, "four charge attempts")
    return history


async def retried(stack: Stack) -> WorkflowHistory:
    """A declined saga retried with a good card the way the API does it: a new execution chain
    under the same workflow id, the event read from the previous run."""
    first, _ = await stack.run_saga("history-retried", payment_token="tok_declined")
    expect(first.status is SagaStatus.COMPENSATED, f"first run compensated, got {first}")
    run = await retry_saga(
        stack.client,
        stack.settings.task_queue,
        "history-retried",
        SagaCorrections(payment_token="tok_visa"),
    )
    state, history = await stack.finished(run.workflow_id, run.run_id)
    expect(state.status is SagaStatus.COMPLETED, f"second run completed, got {state}")
    return history


async def worker_crash(stack: Stack) -> WorkflowHistory:
    """The worker process is killed (SIGKILL) while billing holds its charge request; a new
    worker takes over. The dead worker's workflow task, inside which it was trying the steps
    as local activities, times out; the new worker runs that task again from the start
    (reserve and charge answered idempotently under the same keys) and finishes the saga."""
    settings = stack.settings.model_copy(update={"task_queue": unique_task_queue()})
    charge_reached = threading.Event()
    release_charge = threading.Event()

    async def hold_the_charge(_: dict[str, Any]) -> None:
        charge_reached.set()
        while not release_charge.is_set():
            await asyncio.sleep(0.05)

    stack.services.billing_faults.before("POST", "/charges", hold_the_charge)
    first_worker = _worker_process(settings)
    try:
        started = await start_saga(
            stack.client,
            settings.task_queue,
            student(student_id="history-worker-crash"),
            CRASH_DEADLINES,
        )
        reached = await asyncio.to_thread(charge_reached.wait, SAGA_TIMEOUT.total_seconds())
        expect(reached, "the first worker called billing")
        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait(timeout=10)
    finally:
        release_charge.set()
        if first_worker.poll() is None:
            first_worker.kill()
            first_worker.wait(timeout=10)
    async with saga_worker(stack.client, worker_settings(settings)):
        state, history = await stack.finished(started.workflow_id, started.run_id)
    expect(state.status is SagaStatus.COMPLETED, f"completed by the second worker, got {state}")
    expect(_task_timed_out(history), "a workflow task timed out on the dead worker")
    expect(len(_worker_identities(history)) >= 2, "two workers took part")
    return history


async def transfer_refunding(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_transfer("history-transfer-down", "CS101", "MATH201")
    expect(state.status is SagaStatus.COMPLETED, f"completed, got {state}")
    expect(state.price_difference_cents == -25_000, f"250.00 refunded, got {state}")
    return history


async def transfer_declined(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_transfer(
        "history-transfer-declined", "MATH201", "CS101", payment_token="tok_declined"
    )
    expect(state.failed_step == Step.SETTLE_DIFFERENCE, f"difference refused, got {state}")
    expect(state.compensated_steps == [Step.CANCEL_ENROLLMENT], f"seat released, got {state}")
    return history


async def transfer_same_price(stack: Stack) -> WorkflowHistory:
    state, history = await stack.run_transfer(
        "history-transfer-same-price", "CS101", SAME_PRICE_COURSE.course_id
    )
    expect(state.status is SagaStatus.COMPLETED, f"completed, got {state}")
    expect(state.price_difference_cents is None, f"nothing settled, got {state}")
    return history


SCENARIOS: dict[str, Scenario] = {
    "completed": completed,
    "declined": declined,
    "course-full": course_full,
    "confirm-refused": confirm_refused,
    "transient-billing-outage": transient_billing_outage,
    "retried": retried,
    "worker-crash": worker_crash,
    "course-transfer/refunding": transfer_refunding,
    "course-transfer/declined": transfer_declined,
    "course-transfer/same-price": transfer_same_price,
}


def _worker_process(settings: OrchestratorSettings) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "ENROLLMENT_URL": settings.enrollment_url,
        "BILLING_URL": settings.billing_url,
    }
    environment.pop("PAYLOAD_KEYS", None)
    if settings.service_tokens is not None:
        environment["SERVICE_TOKENS"] = settings.service_tokens.get_secret_value()
    if settings.payload_keys is not None:
        environment["PAYLOAD_KEYS"] = settings.payload_keys.get_secret_value()
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.worker"],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _task_timed_out(history: WorkflowHistory) -> bool:
    return any(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for event in history.events
    )


def _worker_identities(history: WorkflowHistory) -> set[str]:
    # Started, not completed: the dead worker's task, with the steps it ran locally, never
    # completed.
    return {
        event.workflow_task_started_event_attributes.identity
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    }


async def export(out: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as data_dir, running_services(Path(data_dir)) as services:
        # Plaintext: the committed histories replay without keys and can be read in review.
        async with await start_dev_server(payload_keys=None) as env:
            settings = orchestrator_settings(env, services, payload_keys=None)
            async with saga_worker(env.client, worker_settings(settings)):
                stack = Stack(env.client, settings, services)
                for name in names:
                    services.billing_faults.clear()
                    history = await SCENARIOS[name](stack)
                    save_history(history, out / f"{name}.json")
                    print(f"{name}: {len(history.events)} events -> {out / name}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description="Export a history per saga scenario.")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("scenarios", nargs="*", help=f"only these, of {', '.join(SCENARIOS)}")
    arguments = parser.parse_args()
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # refused steps are expected here
    unknown = set(arguments.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    asyncio.run(export(arguments.out, arguments.scenarios or list(SCENARIOS)))
    # Leave without interpreter teardown, which can abort while the Temporal SDK's runtime
    # threads are finalized (temporalio/sdk-python#300).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
