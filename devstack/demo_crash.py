"""`python -m devstack.demo_crash` (`make demo-crash`): the worker dies under sagas in flight,
`make up` restarts it, and the sagas finish, each charged once.

Against a running `make up` (its services serve /_faults, the default):

1. billing gets a latency rule on `charge` (HOLD_MS, once per saga), so that every saga of the
   demo is inside its charge_tuition step at the same time;
2. SAGAS sagas start; once billing holds all their charges, the worker is SIGKILLed (its pid is
   in DATA_DIR/pids/worker.pid), as `kill -9` would;
3. `make up` restarts the worker (its terminal says so); the workflow tasks the dead worker
   held time out, the new worker takes them over, replays each saga's history and runs the
   charge again, which billing answers from its idempotency key: one charge per student;
4. a table shows each saga's outcome, its charges, what its history says about the retried
   task, and its Temporal UI link, where the WorkflowTaskTimedOut event and the new worker's
   identity can be seen.

Exit status 0 if every saga completed with one captured charge, 1 otherwise.
"""

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from common.auth import bearer_headers
from devstack.config import DevstackSettings
from devstack.secrets import first_value, stored_secrets
from orchestrator.process_exit import run_and_exit
from sagas import TERMINAL_STATUSES, SagaStatus
from workflows.contracts import SagaState, workflow_id_for

SAGAS = 3
HOLD_MS = 4000  # shorter than a step's first (local) try, so the held try is the one retried
POLL_SECONDS = 0.5
HTTP_TIMEOUT_SECONDS = 10.0
HELD_TIMEOUT_SECONDS = 30.0
RESTART_TIMEOUT_SECONDS = 60.0
SAGA_TIMEOUT_SECONDS = 180.0


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


@dataclass
class Saga:
    student_id: str
    temporal_ui_url: str
    state: SagaState | None = None
    charges: int = 0
    history: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.state is not None
            and self.state.status is SagaStatus.COMPLETED
            and self.charges == 1
        )


class CrashDemo:
    def __init__(
        self, settings: DevstackSettings, api: httpx.Client, billing: httpx.Client
    ) -> None:
        self._settings = settings
        self._api = api
        self._billing = billing
        self._run = uuid.uuid4().hex[:6]

    def run(self) -> list[Saga]:
        worker_pid = self.worker_pid()
        rule_id = self.hold_charges()
        try:
            sagas = [self.start(number) for number in range(1, SAGAS + 1)]
            self.wait_until_held(rule_id)
            print(f"\nbilling holds all {SAGAS} charges; killing the worker (pid {worker_pid})")
            os.killpg(worker_pid, signal.SIGKILL)
            new_pid = self.wait_for_new_worker(worker_pid)
            print(f"make up restarted the worker (pid {new_pid}); the sagas resume\n")
            self.wait_until_finished(sagas)
        finally:
            self._billing.delete(f"/_faults/{rule_id}")
        for saga in sagas:
            saga.charges = self.captured_charges(saga.student_id)
            saga.history = asyncio.run(retried_tasks(self._settings, saga.student_id))
        return sagas

    def worker_pid(self) -> int:
        pid_file = self._settings.data_dir / "pids" / "worker.pid"
        pid = read_pid(pid_file)
        if pid is None or not alive(pid):
            raise DemoError(f"no running worker in {pid_file}: is `make up` running?")
        return pid

    def hold_charges(self) -> int:
        """Install the latency rule; returns its id."""
        rule = {"operation": "charge", "kind": "latency", "latency_ms": HOLD_MS, "count": SAGAS}
        response = self._billing.post("/_faults", json=rule)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise DemoError(
                "billing serves no /_faults: `make up` runs with SAGA_FAULT_INJECTION=false; "
                "restart it without"
            )
        response.raise_for_status()
        rule_id: int = response.json()["rule_id"]
        return rule_id

    def start(self, number: int) -> Saga:
        student_id = f"crash-{self._run}-{number}"
        response = self._api.post(
            "/students",
            json={
                "student_id": student_id,
                "name": f"Crash Demo Student {number}",
                "email": f"{student_id}@example.com",
                "course_id": "CS101",
                "payment_token": "tok_visa",
            },
        )
        response.raise_for_status()
        print(f"started {student_id}  {response.json()['temporal_ui_url']}")
        return Saga(student_id, response.json()["temporal_ui_url"])

    def wait_until_held(self, rule_id: int) -> None:
        def held() -> bool:
            rules = self._billing.get("/_faults").json()
            return any(rule["rule_id"] == rule_id and rule["hits"] >= SAGAS for rule in rules)

        wait_for(held, f"billing to hold {SAGAS} charges", HELD_TIMEOUT_SECONDS)

    def wait_for_new_worker(self, old_pid: int) -> int:
        pid_file = self._settings.data_dir / "pids" / "worker.pid"
        found: int | None = None

        def restarted() -> bool:
            nonlocal found
            found = read_pid(pid_file)
            return found is not None and found != old_pid and alive(found)

        try:
            wait_for(restarted, "the worker to be restarted", RESTART_TIMEOUT_SECONDS)
        except DemoError:
            raise DemoError(
                "the worker was not restarted: is `make up` still running? "
                "(with SAGA_CRASH_LOOP_EXITS=1 it stops instead)"
            ) from None
        assert found is not None
        return found

    def wait_until_finished(self, sagas: list[Saga]) -> None:
        def finished() -> bool:
            for saga in sagas:
                if saga.state is None or saga.state.status not in TERMINAL_STATUSES:
                    saga.state = self.read_state(saga.student_id) or saga.state
            return all(s.state is not None and s.state.status in TERMINAL_STATUSES for s in sagas)

        wait_for(finished, "the sagas to finish", SAGA_TIMEOUT_SECONDS)

    def read_state(self, student_id: str) -> SagaState | None:
        """None while the status cannot be read (503 while the new worker starts)."""
        response = self._api.get(f"/sagas/{student_id}")
        if response.status_code == httpx.codes.SERVICE_UNAVAILABLE:
            return None
        response.raise_for_status()
        return SagaState.model_validate(response.json())

    def captured_charges(self, student_id: str) -> int:
        response = self._billing.get("/charges", params={"student_id": student_id})
        response.raise_for_status()
        return sum(charge["status"] == "CAPTURED" for charge in response.json())


async def retried_tasks(settings: DevstackSettings, student_id: str) -> str:
    """What the saga's history says about the crash: timed-out tasks and the workers seen."""
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    timed_out = {EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "workflow task"}
    timed_out[EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT] = "activity task"
    retried: list[str] = []
    workers: list[str] = []
    async for event in client.get_workflow_handle(
        workflow_id_for(student_id)
    ).fetch_history_events():
        if event.event_type in timed_out:
            retried.append(f"{timed_out[event.event_type]} timed out")
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            identity = event.workflow_task_started_event_attributes.identity
            if identity not in workers:
                workers.append(identity)
    if not retried:
        return "no task retried (it was not in flight when the worker died)"
    return f"{', '.join(retried)}; run by workers {' then '.join(workers)}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError(f"gave up waiting for {what} after {timeout:g}s")
        time.sleep(POLL_SECONDS)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def table(sagas: list[Saga]) -> str:
    rows = [("student", "final status", "charges", "ok", "history", "Temporal UI")]
    for saga in sagas:
        status = "(not finished)" if saga.state is None else saga.state.status.value
        ok = "yes" if saga.ok else "NO"
        rows.append(
            (saga.student_id, status, str(saga.charges), ok, saga.history, saga.temporal_ui_url)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main() -> int:
    settings = DevstackSettings()
    secrets = stored_secrets(settings.secrets_file, os.environ)
    api_headers = bearer_headers(secrets["SAGA_API_KEY"] or None)
    service_headers = bearer_headers(first_value(secrets["SERVICE_TOKENS"]) or None)
    try:
        with (
            httpx.Client(
                base_url=settings.demo_api_url, headers=api_headers, timeout=HTTP_TIMEOUT_SECONDS
            ) as api,
            httpx.Client(
                base_url=settings.billing_url, headers=service_headers, timeout=HTTP_TIMEOUT_SECONDS
            ) as billing,
        ):
            sagas = CrashDemo(settings, api, billing).run()
    except DemoError as error:
        print(f"demo-crash: {error}", file=sys.stderr)
        return 1
    except httpx.TransportError as error:
        print(
            f"demo-crash: cannot reach the stack ({error}); is `make up` running?", file=sys.stderr
        )
        return 1
    except httpx.HTTPStatusError as error:
        print(f"demo-crash: {error}\n{error.response.text}", file=sys.stderr)
        return 1
    print(table(sagas))
    print()
    failed = [saga for saga in sagas if not saga.ok]
    if failed:
        print(f"{len(failed)} of {len(sagas)} sagas did not complete with exactly one charge.")
        return 1
    print(
        f"All {len(sagas)} sagas completed, each charged once, across the worker's crash. "
        "Open a link: the history shows the task the killed worker held timing out and the new "
        "worker taking it."
    )
    return 0


if __name__ == "__main__":
    run_and_exit(main)
