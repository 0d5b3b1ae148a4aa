"""The running stack seen from outside, as the chaos run and the reliability tests drive it:
start sagas, read their state, install faults in the services, kill and restart processes.

    async with running_system(stack) as system:
        await system.faults["billing"].install(operation="charge", kind="error_after_commit")
        student_id = await system.start_saga(course_id="CS101", payment_token="tok_visa")
        await system.kill("worker"); await system.restart("worker")
        state = await system.wait_for_terminal(student_id)
    choreographed = await system.start_choreographed_saga(course_id="CS101")  # through the API

Everything that can fail while a process is down (starting a saga while Temporal restarts,
reading a status while no worker answers queries) is retried until a deadline.
"""

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest
from temporalio.client import Client

from common.auth import bearer_headers
from devstack.stack import Stack
from orchestrator import sagas
from orchestrator.config import OrchestratorSettings
from orchestrator.temporal import connect
from sagas import TERMINAL_STATUSES, SagaDeadlines, SagaProgress
from workflows import registry
from workflows.contracts import NewStudent, SagaState
from workflows.transfer import CourseTransfer, TransferInput

POLL_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


class Faults:
    """The /_faults routes of one service (it must run with fault injection on)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def install(self, **rule: Any) -> dict[str, Any]:
        response = await self._http.post("/_faults", json=rule)
        response.raise_for_status()
        installed: dict[str, Any] = response.json()
        return installed

    async def rules(self) -> list[dict[str, Any]]:
        response = await self._http.get("/_faults")
        response.raise_for_status()
        rules: list[dict[str, Any]] = response.json()
        return rules

    async def hits(self, operation: str | None = None, kind: str | None = None) -> int:
        return sum(
            rule["hits"]
            for rule in await self.rules()
            if operation in (None, rule["operation"]) and kind in (None, rule["kind"])
        )

    async def remove(self, rule_id: int) -> dict[str, Any] | None:
        """Remove a rule; returns it with its final hits (None if the service forgot it)."""
        response = await self._http.delete(f"/_faults/{rule_id}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        response.raise_for_status()
        removed: dict[str, Any] = response.json()
        return removed

    async def clear(self) -> None:
        (await self._http.delete("/_faults")).raise_for_status()


@dataclass
class System:
    stack: Stack
    temporal: Client
    settings: OrchestratorSettings
    enrollment: httpx.AsyncClient
    billing: httpx.AsyncClient
    api: httpx.AsyncClient  # with the stack's API key: choreographed sagas start there

    @property
    def faults(self) -> dict[str, Faults]:
        return {"enrollment": Faults(self.enrollment), "billing": Faults(self.billing)}

    async def start_saga(
        self,
        course_id: str = "CS101",
        payment_token: str = "tok_visa",
        deadlines: SagaDeadlines | None = None,
        student_id: str | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Start a saga (retried while Temporal is unreachable; starting twice is harmless)."""
        student_id = student_id or f"stu-{uuid.uuid4().hex[:12]}"
        event = NewStudent(
            student_id=student_id,
            name="Chaos Student",
            email="chaos@example.com",
            course_id=course_id,
            payment_token=payment_token,
        )
        await retrying(
            lambda: sagas.start_saga(self.temporal, self.settings.task_queue, event, deadlines),
            timeout,
        )
        return student_id

    async def start_choreographed_saga(
        self,
        course_id: str = "CS101",
        payment_token: str = "tok_visa",
        student_id: str | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Post a student in choreography mode, as a client does; retried while the API (or the
        Temporal server it asks whether the student has an orchestrated saga) cannot answer.
        Posting twice is harmless: the second post finds the saga started."""
        student_id = student_id or f"stu-{uuid.uuid4().hex[:12]}"
        body = {
            "student_id": student_id,
            "name": "Chaos Student",
            "email": "chaos@example.com",
            "course_id": course_id,
            "payment_token": payment_token,
            "mode": "choreography",
        }

        async def post() -> None:
            (await self.api.post("/students", json=body)).raise_for_status()

        await retrying(post, timeout)
        return student_id

    async def choreographed_state(self, student_id: str) -> SagaState | None:
        """The choreographed saga's state from the API's tracker; None while it cannot be read."""
        try:
            response = await self.api.get(f"/sagas/{student_id}")
        except httpx.HTTPError:
            return None
        if response.status_code != httpx.codes.OK:
            return None
        return SagaState.model_validate(response.json())

    async def start_transfer(
        self,
        student_id: str,
        from_course: str,
        to_course: str,
        deadlines: SagaDeadlines | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Start the student's course transfer as POST /transfers does (from their CONFIRMED
        enrollment, read from the service); its saga id. Retried, lookup included, while
        enrollment or Temporal cannot be reached (a chaos run kills them)."""

        async def start() -> str:
            found = await self.enrollment.get(
                "/enrollments",
                params={
                    "student_id": student_id,
                    "status": "CONFIRMED",
                    "course_id": from_course,
                },
            )
            found.raise_for_status()
            [enrolled] = found.json()
            saga_input = TransferInput(
                transfer=CourseTransfer(
                    student_id=student_id,
                    from_course_id=from_course,
                    to_course_id=to_course,
                    payment_token="tok_visa",
                ),
                from_enrollment_id=enrolled["enrollment_id"],
                from_tuition_cents=enrolled["tuition_cents"],
                currency=enrolled["currency"],
                deadlines=deadlines or SagaDeadlines(),
            )
            started = await sagas.start(
                self.temporal, self.settings.task_queue, registry.TRANSFER, saga_input
            )
            return started.saga_id

        return await retrying(start, timeout)

    async def state(self, student_id: str) -> SagaProgress | None:
        """The saga's state, or None while it cannot be read (no worker, Temporal down)."""
        try:
            return await asyncio.wait_for(sagas.saga_state(self.temporal, student_id), 10)
        except Exception:
            return None

    async def wait_for(
        self, condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 90.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:g}s")
            await asyncio.sleep(POLL_SECONDS)

    async def wait_for_terminal(self, student_id: str, timeout: float = 120.0) -> Any:
        final: SagaProgress | None = None

        async def terminal() -> bool:
            nonlocal final
            final = await self.state(student_id)
            return final is not None and final.status in TERMINAL_STATUSES

        await self.wait_for(terminal, f"the saga of {student_id} to end", timeout)
        assert final is not None
        return final

    async def wait_for_all(
        self, student_ids: Iterable[str], timeout: float = 180.0
    ) -> dict[str, SagaState]:
        deadline = time.monotonic() + timeout
        states = {}
        for student_id in student_ids:
            remaining = max(deadline - time.monotonic(), 1.0)
            states[student_id] = await self.wait_for_terminal(student_id, remaining)
        return states

    async def running_sagas(self) -> int | None:
        """How many sagas are still running; None while Temporal cannot tell."""
        request = CountWorkflowExecutionsRequest(
            namespace=self.settings.temporal_namespace,
            query='WorkflowType = "StudentOnboardingSaga" AND ExecutionStatus = "Running"',
        )
        try:
            response = await self.temporal.workflow_service.count_workflow_executions(request)
        except Exception:
            return None
        return int(response.count)

    async def running_choreographed(self, student_ids: Iterable[str]) -> int:
        """How many of these choreographed sagas have not ended (or cannot be read now)."""
        limit = asyncio.Semaphore(20)

        async def running(student_id: str) -> bool:
            async with limit:
                state = await self.choreographed_state(student_id)
            return state is None or state.status not in TERMINAL_STATUSES

        return sum(await asyncio.gather(*(running(sid) for sid in student_ids)))

    async def wait_until_quiet(self, timeout: float) -> bool:
        """True once no saga runs; False if some still run after `timeout` seconds."""
        try:
            await self.wait_for(
                lambda: _is_zero(self.running_sagas()), "no saga to be running", timeout
            )
        except TimeoutError:
            return False
        return True

    async def kill(self, name: str) -> None:
        """SIGKILL one process of the stack: temporal, enrollment, billing, worker or api."""
        await asyncio.to_thread(self.stack.kill, name)

    async def restart(self, name: str) -> None:
        await asyncio.to_thread(self.stack.restart, name)

    async def crash(self, name: str) -> int:
        """SIGKILL a process as `kill -9` from outside would (a Supervisor restarts it, unlike
        after kill()); returns the pid it had."""
        pid = self.stack.process(name).pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return pid

    async def wait_until_back(self, name: str, old_pid: int, timeout: float = 120.0) -> None:
        """Until `name` runs again as another process than `old_pid`, and is ready."""

        async def back() -> bool:
            process = self.stack.process(name)
            if not process.started or process.pid == old_pid:
                return False
            return await asyncio.to_thread(self.stack.is_ready, name)

        await self.wait_for(back, f"{name} to be back", timeout)

    async def heal(self) -> list[str]:
        """Restart every process that is not running; returns their names."""
        dead = [process.name for process in self.stack.processes if not process.running]
        for name in dead:
            await self.restart(name)
        return dead


async def _is_zero(count: Awaitable[int | None]) -> bool:
    return await count == 0


async def retrying(action: Callable[[], Awaitable[T]], timeout: float) -> T:
    """`action()`, retried on any error until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def orchestrator_settings(stack: Stack) -> OrchestratorSettings:
    settings = stack.settings
    return OrchestratorSettings(
        temporal_address=settings.temporal_address,
        temporal_namespace=settings.temporal_namespace,
        task_queue=settings.task_queue,
        temporal_ui_url=settings.temporal_ui_url,
        enrollment_url=settings.enrollment_url,
        billing_url=settings.billing_url,
        # The stack encrypts payloads with its development key: read them with it; and its
        # services want its token (for the faults).
        payload_keys=stack.secrets["PAYLOAD_KEYS"],
        service_tokens=stack.secrets["SERVICE_TOKENS"],
        # With the broker, the invariant checker reads the choreographed sagas too, from the
        # tracker in the API's database (DATA_DIR/api.db).
        broker_url=settings.effective_broker_url,
        broker_namespace=settings.broker_namespace,
        data_dir=stack.data_dir,
    )


@asynccontextmanager
async def running_system(stack: Stack) -> AsyncIterator[System]:
    """A `System` over a started stack."""
    settings = orchestrator_settings(stack)
    temporal = await connect(settings)
    headers = settings.service_headers()
    async with (
        httpx.AsyncClient(
            base_url=settings.enrollment_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        ) as enr,
        httpx.AsyncClient(
            base_url=settings.billing_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        ) as bill,
        httpx.AsyncClient(
            base_url=stack.settings.local_api_url,
            headers=bearer_headers(stack.secrets["SAGA_API_KEY"]),
            timeout=HTTP_TIMEOUT_SECONDS,
        ) as api,
    ):
        yield System(stack, temporal, settings, enr, bill, api)
