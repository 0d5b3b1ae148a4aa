"""Drive sagas through each mode on a fresh local stack and measure what it costs.

Each mode gets its own stack (the `make up` processes on free ports, in a temporary data
directory), so one mode's history and caches never weigh on the next and every process's CPU
and peak memory belong to one mode.
"""

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress
from sqlalchemy import Engine, create_engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.converter import DataConverter

from bench.floor import FLOOR_STEPS, FloorLocalWorkflow, FloorWorkflow
from bench.measure import ProcessSample, sample
from bench.workload import BENCH_COURSES, CLOSED_COURSE, Order, Outcome
from choreography.tracker import SagaView, TrackedEvent
from common.auth import bearer_headers
from common.database import create_database_engine, create_tables
from devstack.config import DevstackSettings
from devstack.processes import ManagedProcess
from devstack.stack import Stack
from orchestrator.config import OrchestratorSettings
from orchestrator.temporal import connect
from services.enrollment.models import TABLES as ENROLLMENT_TABLES
from services.enrollment.service import seed_catalogue
from workflows.contracts import SagaState
from workflows.registry import ONBOARDING

FLOOR_TASK_QUEUE = "bench-floor"
REPOSITORY = Path(__file__).resolve().parent.parent


class Mode(StrEnum):
    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"
    FLOOR = "floor"
    FLOOR_LOCAL = "floor-local"


# The bare workflows orchestration is measured against (bench/floor.py), on the floor worker.
FLOORS: dict[Mode, type] = {Mode.FLOOR: FloorWorkflow, Mode.FLOOR_LOCAL: FloorLocalWorkflow}
# The processes whose CPU a saga of each mode costs: a floor is Temporal and its own worker;
# the other modes, the whole stack (the floor worker sits idle outside the floors).
FLOOR_PROCESSES = frozenset({"temporal", "floor-worker"})


def uses_process(mode: Mode, process: str) -> bool:
    if mode in FLOORS:
        return process in FLOOR_PROCESSES
    return process != "floor-worker"


# How often the choreography driver asks whether a saga has ended. Its latency does not depend
# on it: the end is read from the tracker's own timestamp (see BenchStack._choreographed).
WAIT_FOR_END = {"Prefer": "wait=30"}  # RFC 7240; the API's longest wait


@dataclass(frozen=True)
class SagaRecord:
    student_id: str
    expected: str
    status: str
    started: float  # seconds since the run began
    finished: float

    @property
    def latency(self) -> float:
        return self.finished - self.started


@dataclass
class RunResult:
    mode: Mode
    concurrency: int
    records: list[SagaRecord]
    wall_seconds: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, this run only
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # per process, since start
    history_events: dict[str, float] = field(default_factory=dict)  # mean per saga, by outcome
    broker_messages: dict[str, float] = field(default_factory=dict)  # mean per saga, by outcome
    round: int = 1  # which of the interleaved rounds (`--pairs`) it ran in

    @property
    def throughput(self) -> float:
        return len(self.records) / self.wall_seconds


Drive = Callable[[Order], Awaitable[tuple[str, float | None]]]
"""Runs one saga to its end: its final status, and when it ended (epoch seconds) if the mode
records that more precisely than the moment the driver saw it."""


@dataclass
class BenchStack:
    """A running stack, plus the floor's worker, and the clients the drivers use."""

    stack: Stack
    floor_worker: ManagedProcess
    client: Client
    api: httpx.AsyncClient
    floor_client: Client  # the floor worker's converter: no encryption, as bare as it gets
    data_dir: Path
    tracker: Engine  # the API's choreography tracker, read only (`tracker_engine`)

    @property
    def processes(self) -> dict[str, int]:
        pids = {process.name: process.pid for process in self.stack.processes}
        pids["floor-worker"] = self.floor_worker.pid
        return pids

    def samples(self) -> dict[str, ProcessSample]:
        return {name: sample(pid) for name, pid in self.processes.items()}

    def driver(self, mode: Mode) -> Drive:
        drivers: dict[Mode, Drive] = {
            Mode.ORCHESTRATION: self._orchestrated,
            Mode.CHOREOGRAPHY: self._choreographed,
        }
        if mode in FLOORS:
            return functools.partial(self._floor, mode)
        return drivers[mode]

    async def _choreographed(self, order: Order) -> tuple[str, float | None]:
        """POST in choreography mode with `Prefer: wait`: the API answers once its tracker sees
        the saga end (one long-poll per saga, as the orchestrated driver's one Temporal
        long-poll), or after the wait with 202, when the same idempotent POST waits again. Its
        end time is the tracker's `updated_at` for the last event."""
        body = order.body | {"mode": "choreography"}
        while True:
            response = await self._request("POST", "/students", json=body, headers=WAIT_FOR_END)
            response.raise_for_status()
            if "Preference-Applied" in response.headers:
                return response.json()["status"], self._tracked_end(order.student_id)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request, sent again if a kept-alive connection was closed under it (uvicorn closes
        idle ones after 5 s; the close can cross a request). Safe: POST /students is
        idempotent per student and GET is a read."""
        for attempt in range(3):
            try:
                return await self.api.request(method, url, **kwargs)
            except httpx.TransportError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _tracked_end(self, student_id: str) -> float | None:
        return tracked_end(self.tracker, student_id)

    def broker_messages(self, student_ids: list[str]) -> float:
        """Events published per choreographed saga, as the tracker (which consumes all) saw."""
        return tracked_events(self.tracker, student_ids) / len(student_ids)

    async def _orchestrated(self, order: Order) -> tuple[str, float | None]:
        response = await self._request("POST", "/students", json=order.body)
        response.raise_for_status()
        # The onboarding saga, as the registry names it (the benchmark's orchestrated mode).
        handle = self.client.get_workflow_handle(
            ONBOARDING.workflow_id(order.student_id),
            run_id=response.json()["run_id"],
            result_type=SagaState,
        )
        state = await handle.result()
        return state.status.value, None

    async def _floor(self, mode: Mode, order: Order) -> tuple[str, float | None]:
        await self.floor_client.execute_workflow(
            FLOORS[mode].__name__,  # a workflow's type name is its class's (@workflow.defn)
            FLOOR_STEPS,
            result_type=int,
            id=floor_workflow_id(mode, order.student_id),
            task_queue=FLOOR_TASK_QUEUE,
        )
        return "COMPLETED", None


def floor_workflow_id(mode: Mode, student_id: str) -> str:
    return f"bench-{mode.value}-{student_id}"


@contextlib.asynccontextmanager
async def bench_stack(
    concurrency: int,
    workers: int = 1,
    fault_injection: bool = False,
) -> AsyncIterator[BenchStack]:
    """A fresh stack with `workers` saga worker processes; `fault_injection` adds /_faults."""
    with tempfile.TemporaryDirectory(prefix="saga-bench-") as data_dir:
        settings = DevstackSettings.on_free_ports(
            data_dir=Path(data_dir), worker_processes=workers, fault_injection=fault_injection
        )
        _seed_bench_courses(settings)
        # The fixture behind the "confirm failure" outcome (bench/workload.py).
        closed = {"UNCONFIRMABLE_COURSES": json.dumps([CLOSED_COURSE.course_id])}
        stack = Stack(settings, log=_discard, environment=os.environ | closed)
        # Its readiness probes run their own event loops: start and stop it off this one.
        await asyncio.to_thread(stack.start)
        floor_worker = _start_floor_worker(settings)
        try:
            orchestrator = OrchestratorSettings(
                temporal_address=settings.temporal_address,
                temporal_namespace=settings.temporal_namespace,
                # The stack encrypts payloads with its development key: read them with it.
                payload_keys=stack.secrets["PAYLOAD_KEYS"],
            )
            client = await connect(orchestrator)
            floor_config = client.config()
            floor_config["data_converter"] = DataConverter.default
            # One keep-alive connection per concurrent saga: no handshake on the measured path.
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            api_url = f"http://{settings.host}:{settings.api_port}"
            headers = bearer_headers(stack.secrets["SAGA_API_KEY"])
            async with httpx.AsyncClient(
                base_url=api_url, headers=headers, limits=limits, timeout=120
            ) as api:
                floor_client = Client(**floor_config)
                tracker = tracker_engine(settings.data_dir)
                try:
                    yield BenchStack(
                        stack, floor_worker, client, api, floor_client, settings.data_dir, tracker
                    )
                finally:
                    tracker.dispose()
        finally:
            floor_worker.send(signal.SIGTERM)
            floor_worker.wait(10)
            await asyncio.to_thread(stack.stop)


async def run(
    bench: BenchStack,
    mode: Mode,
    orders: list[Order],
    concurrency: int,
    progress: Progress | None = None,
    history_sample: int = 0,
) -> RunResult:
    """Drive `orders` through `mode`, `concurrency` at a time; measure CPU over the run."""
    drive = bench.driver(mode)
    gate = asyncio.Semaphore(concurrency)
    task = progress.add_task(f"{mode} x{concurrency}", total=len(orders)) if progress else None
    before = bench.samples()
    began = time.monotonic()

    # Wall-clock time, so that an end recorded by another process on this machine compares.
    began_wall = time.time()

    async def one(order: Order) -> SagaRecord:
        async with gate:
            started = time.time() - began_wall
            status, ended_at = await drive(order)
            finished = (ended_at if ended_at is not None else time.time()) - began_wall
        if progress is not None and task is not None:
            progress.advance(task)
        return SagaRecord(order.student_id, order.expected.value, status, started, finished)

    records = await asyncio.gather(*(one(order) for order in orders))
    wall = time.monotonic() - began
    if mode is Mode.CHOREOGRAPHY:
        # Each answer comes a little after the tracker recorded its end: count to the last end.
        wall = max(record.finished for record in records)
    after = bench.samples()
    result = RunResult(mode, concurrency, list(records), wall)
    result.cpu_seconds = {
        name: after[name].cpu_seconds - before[name].cpu_seconds for name in after
    }
    result.peak_rss_mb = {name: after[name].peak_rss_mb for name in after}
    if history_sample:
        if mode is Mode.CHOREOGRAPHY:
            result.broker_messages = {
                outcome.value: bench.broker_messages(ids)
                for outcome in Outcome
                if (ids := [o.student_id for o in orders if o.expected is outcome])
            }
        else:
            result.history_events = await _history_events(bench, mode, orders, history_sample)
    return result


async def _history_events(
    bench: BenchStack, mode: Mode, orders: list[Order], per_outcome: int
) -> dict[str, float]:
    """Mean history length per saga, by expected outcome, over a sample of the run."""
    counts: dict[str, list[int]] = {}
    for outcome in Outcome:
        chosen = [order for order in orders if order.expected is outcome][:per_outcome]
        for order in chosen:
            workflow_id = (
                ONBOARDING.workflow_id(order.student_id)
                if mode is Mode.ORCHESTRATION
                else floor_workflow_id(mode, order.student_id)
            )
            history = await bench.client.get_workflow_handle(workflow_id).fetch_history()
            counts.setdefault(outcome.value, []).append(len(history.events))
        if mode in FLOORS:
            break  # every floor workflow of a mode is the same
    return {outcome: sum(c) / len(c) for outcome, c in counts.items() if c}


def tracker_engine(data_dir: Path) -> Engine:
    """The API's database (its choreography tracker), opened read only and with SQLite's
    deferred transactions, not the services' BEGIN IMMEDIATE (common.database): the bench's
    reads must neither wait for the tracker's writes nor hold them up."""
    return create_engine(f"sqlite:///file:{data_dir / 'api.db'}?mode=ro&uri=true")


# Read through the tracker's own models (choreography.tracker): none of its functions gives
# when a saga's view last changed, nor how many events it holds.
def tracked_end(tracker: Engine, student_id: str) -> float | None:
    """When the tracker last updated the saga's view (epoch seconds): its end, once terminal."""
    with Session(tracker) as session:
        query = select(SagaView.updated_at).where(col(SagaView.student_id) == student_id)
        ended = session.exec(query).first()
    if ended is None:
        return None
    return (ended if ended.tzinfo else ended.replace(tzinfo=UTC)).timestamp()


def tracked_events(tracker: Engine, student_ids: list[str]) -> int:
    """The distinct events the tracker recorded for these students' sagas."""
    with Session(tracker) as session:
        query = select(func.count()).where(col(TrackedEvent.student_id).in_(student_ids))
        return session.exec(query).one()


def _discard(_line: str) -> None:
    """The processes' log lines: not wanted on the benchmark's terminal."""


def _seed_bench_courses(settings: DevstackSettings) -> None:
    engine = create_database_engine(f"sqlite:///{settings.data_dir / 'enrollment.db'}")
    create_tables(engine, ENROLLMENT_TABLES)
    with Session(engine) as session:
        seed_catalogue(session, BENCH_COURSES)
    engine.dispose()


def _start_floor_worker(settings: DevstackSettings) -> ManagedProcess:
    command = [
        sys.executable,
        "-m",
        "bench.floor",
        "--address",
        settings.temporal_address,
        "--namespace",
        settings.temporal_namespace,
        "--task-queue",
        FLOOR_TASK_QUEUE,
    ]
    process = ManagedProcess(
        "floor-worker", command, {"PYTHONUNBUFFERED": "1"}, REPOSITORY, "[floor]", _discard
    )
    process.start()
    return process
