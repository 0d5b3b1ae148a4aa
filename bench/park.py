"""In-flight capacity: N orchestrated sagas parked at one step, then drained.

Billing gets a latency rule on `charge` long enough to hold every charge (FAULT_INJECTION,
common/faults.py). N sagas are started straight through the Temporal client (the API is not
what is measured here), with step deadlines long enough that none gives up while parked. Once
every saga holds its seat (the enrollment database says so), each one is parked: its charge's
local first try has timed out (5 s) and handed the charge to a regular activity; a few charges
wait inside billing, the rest are activity tasks queued in Temporal. The processes are sampled
while parked; then billing is killed and started again, which forgets the rule (rules live in
the process's memory), the held charge attempts fail over to a retry, and every saga drains to
its end (every enrollment CONFIRMED).
"""

import asyncio
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.progress import Progress, TaskID

from bench.measure import ProcessSample
from bench.run import BenchStack
from common.auth import bearer_headers
from orchestrator.sagas import start_saga
from sagas import SagaDeadlines
from workflows.contracts import NewStudent

PARKED_CHARGE_MS = 600_000  # longer than any park: the charge is only released by the restart
# The step's deadline is long enough for N sagas to be started and held: a parked saga must
# not give up its step. A held charge itself ends at the worker's HTTP timeout (10 s) and is
# retried: that keeps the worker's activity slots free for the reserves of sagas still being
# started (held for longer, they would fill every slot and stall the start). An attempt whose
# answer is lost costs the attempt deadline, 2 minutes (docs/benchmarks.md).
PARKED_DEADLINES = SagaDeadlines(step_seconds=3600, attempt_seconds=120)
PARKED_WINDOW_SECONDS = 10.0  # how long the parked stack is watched
POLL_SECONDS = 1.0


@dataclass
class ParkResult:
    sagas: int
    workers: int
    start_seconds: float = 0.0  # from the first start to every saga holding its seat
    drain_seconds: float = 0.0  # from the release to every saga confirmed
    parked_rss_mb: dict[str, float] = field(default_factory=dict)  # current, while parked
    parked_cpu_percent: dict[str, float] = field(default_factory=dict)  # of one core
    start_cpu_ms_per_saga: dict[str, float] = field(default_factory=dict)
    drain_cpu_ms_per_saga: dict[str, float] = field(default_factory=dict)
    drained_rss_mb: dict[str, float] = field(default_factory=dict)  # current, after draining
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    confirmed: int = 0


async def park(
    bench: BenchStack, sagas: int, workers: int, progress: Progress | None = None
) -> ParkResult:
    result = ParkResult(sagas, workers)
    settings = bench.stack.settings
    billing = f"http://{settings.host}:{settings.billing_port}"
    rule = {"operation": "charge", "kind": "latency", "latency_ms": PARKED_CHARGE_MS}
    # The fault routes want a service token, like every write (the stack's first).
    token = bench.stack.secrets["SERVICE_TOKENS"].split(",")[0]
    async with httpx.AsyncClient(base_url=billing, headers=bearer_headers(token)) as client:
        (await client.post("/_faults", json=rule)).raise_for_status()

    enrollment_db = bench.data_dir / "enrollment.db"
    run = uuid.uuid4().hex[:6]
    events = [_student(f"park-{run}-{index}") for index in range(sagas)]
    parking = progress.add_task(f"park {sagas} (held)", total=sagas) if progress else None
    before = bench.samples()
    began = time.monotonic()
    gate = asyncio.Semaphore(50)

    async def start(event: NewStudent) -> None:
        async with gate:
            await start_saga(bench.client, settings.task_queue, event, PARKED_DEADLINES)

    await asyncio.gather(*(start(event) for event in events))
    await _until(enrollment_db, "1", sagas, progress, parking)
    result.start_seconds = time.monotonic() - began
    result.start_cpu_ms_per_saga = _cpu_ms_per_saga(before, bench.samples(), sagas)

    # Parked: every saga waits on its charge. Watch the processes for a while.
    watched = bench.samples()
    await asyncio.sleep(PARKED_WINDOW_SECONDS)
    window = PARKED_WINDOW_SECONDS
    parked = bench.samples()
    result.parked_rss_mb = {name: round(s.rss_mb, 1) for name, s in parked.items()}
    result.parked_cpu_percent = {
        name: round(100 * (parked[name].cpu_seconds - watched[name].cpu_seconds) / window, 1)
        for name in parked
    }

    # Release: a restarted billing has no rule; the held attempts fail and are retried.
    await asyncio.to_thread(bench.stack.kill, "billing")
    await asyncio.to_thread(bench.stack.restart, "billing")
    released = bench.samples()
    began = time.monotonic()
    draining = progress.add_task(f"drain {sagas}", total=sagas) if progress else None
    result.confirmed = await _until(
        enrollment_db, "status = 'CONFIRMED'", sagas, progress, draining
    )
    result.drain_seconds = time.monotonic() - began
    drained = bench.samples()
    result.drain_cpu_ms_per_saga = _cpu_ms_per_saga(released, drained, sagas)
    result.drained_rss_mb = {name: round(s.rss_mb, 1) for name, s in drained.items()}
    result.peak_rss_mb = {name: round(s.peak_rss_mb, 1) for name, s in drained.items()}
    return result


def _student(student_id: str) -> NewStudent:
    return NewStudent(
        student_id=student_id,
        name="Parked Student",
        email="bench@example.com",
        course_id="CS101",
        payment_token="tok_visa",
    )


async def _until(
    database: Path, condition: str, target: int, progress: Progress | None, task: TaskID | None
) -> int:
    """Wait until `target` enrollments of parked students meet `condition`; returns the count.
    Gives up after a generous bound, so a stuck run ends with an error, not never."""
    deadline = time.monotonic() + 300 + target
    count = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as enrollment:
            (count,) = enrollment.execute(
                f"SELECT COUNT(*) FROM enrollment WHERE student_id LIKE 'park-%' AND {condition}"
            ).fetchone()
        if progress is not None and task is not None:
            progress.update(task, completed=count)
        if count >= target:
            return int(count)
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"only {count} of {target} parked sagas reached '{condition}'")


def _cpu_ms_per_saga(
    before: dict[str, ProcessSample], after: dict[str, ProcessSample], sagas: int
) -> dict[str, float]:
    return {
        name: round((after[name].cpu_seconds - before[name].cpu_seconds) * 1000 / sagas, 2)
        for name in after
        if name in before
    }
