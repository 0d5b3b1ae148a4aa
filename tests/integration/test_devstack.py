"""The dev stack (`make up`) as real processes on free ports: sagas over HTTP, then a clean stop;
and `python -m devstack` itself: a process killed from outside is restarted, Ctrl-C stops
everything quietly, a process that exits on every restart stops the stack with its last lines."""

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from choreography.bus import NatsBus
from choreography.config import BrokerConfig
from choreography.events import from_json
from choreography.sealing import FieldSealer
from common.auth import bearer_headers
from common.payload_keys import parse_keys
from devstack.config import DevstackSettings
from devstack.stack import Stack, port_is_free
from sagas import TERMINAL_STATUSES, SagaStatus
from workflows.contracts import SagaState, Step, workflow_id_for

SAGA_TIMEOUT_SECONDS = 60
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def log() -> list[str]:
    """The stack's lines, as `make up` would print them."""
    return []


@pytest.fixture
def stack(tmp_path: Path, log: list[str]) -> Iterator[Stack]:
    settings = DevstackSettings.on_free_ports(
        host="127.0.0.1",
        data_dir=tmp_path / "data",
        enrollment_database_url=None,
        billing_database_url=None,
    )
    with Stack(settings, log=log.append) as running:
        yield running


def start_saga(api: httpx.Client, payment_token: str, mode: str = "orchestration") -> str:
    student_id = f"stu-{uuid.uuid4().hex[:10]}"
    response = api.post(
        "/students",
        json={
            "student_id": student_id,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "course_id": "CS101",
            "payment_token": payment_token,
            "mode": mode,
        },
    )
    assert response.status_code == 202, response.text
    return student_id


def final_state(api: httpx.Client, student_id: str) -> SagaState:
    deadline = time.monotonic() + SAGA_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = api.get(f"/sagas/{student_id}")
        if response.status_code == 200:
            state = SagaState.model_validate(response.json())
            if state.status in TERMINAL_STATUSES:
                return state
        time.sleep(0.2)
    raise AssertionError(f"the saga of {student_id} did not finish in {SAGA_TIMEOUT_SECONDS}s")


async def raw_saga_input(settings: DevstackSettings, student_id: str) -> Payloads:
    """The saga's input as the server stores it, fetched without any data converter."""
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=settings.temporal_namespace,
            execution=WorkflowExecution(workflow_id=workflow_id_for(student_id)),
        )
    )
    return history.history.events[0].workflow_execution_started_event_attributes.input


def decoded_by_the_ui_codec_endpoint(settings: DevstackSettings, payloads: Payloads) -> str:
    """Decode as the Web UI does: from its origin, at the codec endpoint it was started with."""
    ui_settings = httpx.get(f"{settings.temporal_ui_url}/api/v1/settings", timeout=10).json()
    endpoint = ui_settings["Codec"]["Endpoint"]
    response = httpx.post(
        f"{endpoint}/decode",
        json=json_format.MessageToDict(payloads),
        headers={"Origin": settings.temporal_ui_url, "X-Namespace": settings.temporal_namespace},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == settings.temporal_ui_url
    decoded = json_format.ParseDict(response.json(), Payloads())
    return b"".join(payload.data for payload in decoded.payloads).decode()


async def raw_broker_messages(settings: DevstackSettings, student_id: str) -> list[str]:
    """The student's events as the stack's embedded NATS holds them, unparsed."""
    bus = NatsBus(
        BrokerConfig(url=settings.effective_broker_url, namespace=settings.broker_namespace)
    )
    held: list[str] = []

    async def keep(payload: bytes) -> None:
        held.append(payload.decode())

    await bus.start()
    try:
        await bus.replay_raw(keep)
    finally:
        await bus.close()
    return [text for text in held if json.loads(text).get("student_id") == student_id]


def rows_mentioning(database: Path, student_id: str) -> list[str]:
    """Every row of every table of a SQLite file that mentions the student, as text."""
    connection = sqlite3.connect(database)
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        rows = [
            " ".join(map(str, row))
            for (table,) in tables.fetchall()
            for row in connection.execute(f'SELECT * FROM "{table}"')
        ]
    finally:
        connection.close()
    return [row for row in rows if student_id in row]


def process_group_exists(group_id: int) -> bool:
    try:
        os.killpg(group_id, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_stack_completes_a_paid_saga_compensates_a_declined_one_and_stops_cleanly(
    stack: Stack, log: list[str]
) -> None:
    settings = stack.settings
    # The stack's API wants the key `make up` generates; the stack is given it.
    assert httpx.get(f"{settings.local_api_url}/sagas", timeout=10).status_code == 401
    api_key = bearer_headers(stack.secrets["SAGA_API_KEY"])
    with httpx.Client(base_url=settings.local_api_url, headers=api_key, timeout=10) as api:
        paid = start_saga(api, "tok_visa")
        declined = start_saga(api, "tok_declined")
        choreographed = start_saga(api, "tok_visa", mode="choreography")

        paid_state = final_state(api, paid)
        declined_state = final_state(api, declined)
        choreographed_state = final_state(api, choreographed)

    assert paid_state.status == SagaStatus.COMPLETED
    assert declined_state.status == SagaStatus.COMPENSATED
    assert declined_state.failed_step == Step.CHARGE_TUITION
    assert choreographed_state.status == SagaStatus.COMPLETED
    assert (stack.data_dir / "temporal.db").exists()
    assert (stack.data_dir / "nats").is_dir()

    # Personal data is sealed in Temporal, and the Web UI's codec endpoint opens it.
    stored = asyncio.run(raw_saga_input(settings, paid))
    assert b"ada@example.com" not in stored.SerializeToString()
    assert "ada@example.com" in decoded_by_the_ui_codec_endpoint(settings, stored)

    # ...and in the choreography: the API sealed it into the events under the stack's event key,
    # and billing opened the token with it (the saga completed, charged).
    messages = asyncio.run(raw_broker_messages(settings, choreographed))
    rows = rows_mentioning(stack.data_dir / "api.db", choreographed)
    assert messages and rows
    assert [text for text in messages + rows if "ada@example.com" in text] == []
    [created] = [event for event in map(from_json, messages) if event.type == "StudentCreated"]
    sealer = FieldSealer(parse_keys(stack.secrets["EVENT_PAYLOAD_KEYS"]))
    assert sealer.open(choreographed, "email", created.email) == "ada@example.com"

    # The worker serves Prometheus metrics: the SDK's own and the sagas' outcomes.
    metrics = httpx.get(settings.worker_metrics_url, timeout=10).text
    assert "temporal_workflow_completed" in metrics
    assert any(
        line.startswith("saga_outcomes")
        and 'outcome="compensated"' in line
        and 'failed_step="charge_tuition"' in line
        for line in metrics.splitlines()
    )

    # Each child leads its own process group, so an empty group means nothing is left behind.
    groups = {process.name: process.pid for process in stack.processes}
    assert set(groups) == {
        "temporal",
        "codec",
        "nats",
        "enrollment",
        "billing",
        "worker",
        "api",
        "intake",
    }
    stopping = len(log)
    stack.stop()

    assert [name for name, group in groups.items() if process_group_exists(group)] == []
    assert all(port_is_free(settings.host, port) for port in settings.ports().values())
    # Quietly, one process at a time in reverse start order: only the stack's own lines.
    assert log[stopping:] == [
        "[devstack  ] stopping intake, api, worker, billing, enrollment, nats, codec, temporal",
        log[-1],
    ]
    assert log[-1].startswith("[devstack  ] stopped in ")


class MakeUp:
    """`python -m devstack`, as `make up` runs it, on free ports in a temporary directory; its
    output (stdout and stderr) line by line in `lines`."""

    def __init__(self, tmp_path: Path, **environment: str) -> None:
        self.settings = DevstackSettings.on_free_ports(data_dir=tmp_path / "data")
        settings = self.settings.model_dump(include={"host", "data_dir", "secrets_file"})
        settings |= {name: value for name, value in self.settings if name.endswith("_port")}
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SAGA_")}
        # What a shell running `make up` and then `make demo-crash` would have.
        self.environment = (
            inherited
            | {f"SAGA_{name.upper()}": str(value) for name, value in settings.items()}
            | environment
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPOSITORY,
            env=self.environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 120) -> int:
        """The index of the first line from `after` on that matches `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if re.search(pattern, self.lines[index]):
                    return index
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines[-40:]))

    def pid(self, name: str) -> int:
        return int((self.settings.data_dir / "pids" / f"{name}.pid").read_text())

    def pids(self) -> dict[str, int]:
        files = (self.settings.data_dir / "pids").glob("*.pid")
        return {file.stem: int(file.read_text()) for file in files}

    def exit_code(self, timeout: float = 180) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout=10)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


@pytest.fixture
def make_up(tmp_path: Path) -> Iterator[Callable[..., MakeUp]]:
    started: list[MakeUp] = []

    def start(**environment: str) -> MakeUp:
        started.append(MakeUp(tmp_path, **environment))
        return started[-1]

    yield start
    for up in started:
        up.close()


@contextmanager
def holding(host: str, port: int, timeout: float = 10) -> Iterator[None]:
    """Listen on host:port as soon as it is free, so that what binds it next fails."""
    deadline = time.monotonic() + timeout
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        while True:
            try:
                holder.bind((host, port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        holder.listen()
        yield


BANNER = r"^Saga stack is up"


def test_make_up_restarts_the_worker_that_demo_crash_kills_and_ctrl_c_stops_everything_quietly(
    make_up: Callable[..., MakeUp],
) -> None:
    up = make_up()
    up_at = up.wait_for(BANNER)
    killed = up.pid("worker")

    demo = subprocess.run(
        [sys.executable, "-m", "devstack.demo_crash"],
        cwd=REPOSITORY,
        env=up.environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"killing the worker (pid {killed})" in demo.stdout
    assert "All 3 sagas completed, each charged once" in demo.stdout
    # The table: each saga completed, its history shows a task of the killed worker timing out
    rows = [line for line in demo.stdout.splitlines() if line.startswith("crash-")]
    assert len(rows) == 3
    assert all(
        "COMPLETED" in row and "timed out" in row and f"workers {killed}@" in row for row in rows
    ), rows
    restarting = up.wait_for(
        r"^\[devstack\s*\] worker was killed by SIGKILL; restarting \(attempt 2\) in 0.5s$", up_at
    )
    up.wait_for(r"^\[devstack\s*\] worker ready after", restarting)
    assert up.pid("worker") != killed
    assert process_group_exists(up.pid("worker"))
    groups = up.pids()
    assert set(groups) == {
        "temporal",
        "codec",
        "nats",
        "enrollment",
        "billing",
        "worker",
        "api",
        "intake",
    }

    stopping = len(up.lines)
    up.process.send_signal(signal.SIGINT)

    assert up.exit_code() == 0
    assert [name for name, group in groups.items() if process_group_exists(group)] == []
    assert up.pids() == {}
    # The banner once; the stop in the stack's own words only, none of the processes'.
    assert sum(bool(re.search(BANNER, line)) for line in up.lines) == 1
    stop_lines = [line for line in up.lines[stopping:] if "GET /readyz" not in line]
    assert stop_lines[0] == "[devstack  ] SIGINT received: stopping"
    assert [line for line in stop_lines if not line.startswith("[devstack  ] ")] == []


def test_make_up_stops_the_stack_with_its_last_lines_when_a_process_exits_on_every_restart(
    make_up: Callable[..., MakeUp],
) -> None:
    up = make_up(SAGA_CRASH_LOOP_EXITS="3")
    up.wait_for(BANNER)
    groups = up.pids()
    settings = up.settings

    # Killed, then its port taken: every restart of billing fails to listen, and exits.
    os.killpg(up.pid("billing"), signal.SIGKILL)
    with holding(settings.host, settings.billing_port):
        code = up.exit_code()

    assert code == 1
    report = up.wait_for(
        r"^devstack: billing exited with code \d+: 3 exits in 60s, not restarting it"
    )
    assert up.lines[report].endswith("Its last lines:")
    last_lines = up.lines[report + 1 : up.lines.index("Stopping the rest.")]
    assert any("address already in use" in line for line in last_lines), last_lines
    assert [name for name, group in groups.items() if process_group_exists(group)] == []
    assert up.pids() == {}
