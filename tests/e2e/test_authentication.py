"""Authentication over the real system: the API wants an API key (a read-only one may only
read), and a worker whose service token the services refuse completes no step of a saga: it
retries, visibly, and the saga carries on once the worker has the right token."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.client import Client

from common.auth import bearer_headers
from common.problems import PROBLEM_JSON
from orchestrator import sagas
from orchestrator.api.app import create_app as create_api
from orchestrator.config import OrchestratorSettings, WorkerSettings
from orchestrator.worker.main import saga_worker
from sagas import ErrorType, SagaStatus
from tests.e2e.conftest import System, new_student
from tests.support.credentials import (
    API_HEADERS,
    TEST_API_KEY,
    TEST_READ_ONLY_API_KEY,
    TEST_SERVICE_TOKEN,
)
from tests.support.servers import serve_in_thread
from tests.support.temporal import TEST_PAYLOAD_KEYS, unique_task_queue
from workflows.contracts import NewStudent, workflow_id_for

READ_ONLY_HEADERS = bearer_headers(TEST_READ_ONLY_API_KEY)


@asynccontextmanager
async def anonymous(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.api.base_url, timeout=30) as api:
        yield api


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Token {TEST_API_KEY}"}, {"Authorization": "Bearer wrong-key"}],
    ids=["no header", "not bearer", "wrong key"],
)
async def test_the_api_without_a_valid_key_is_401_problem_with_a_bearer_challenge(
    system: System, headers: dict[str, str]
) -> None:
    async with anonymous(system) as api:
        listed = await api.get("/sagas", headers=headers)
        started = await api.post("/students", json=new_student(), headers=headers)

    for response in (listed, started):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["www-authenticate"].startswith('Bearer realm="saga-api"')
        assert response.json()["status"] == 401


async def test_health_readiness_and_the_api_description_need_no_key(system: System) -> None:
    async with anonymous(system) as api:
        for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
            assert (await api.get(path)).status_code == 200, path


async def test_the_spec_declares_the_bearer_scheme_so_the_docs_offer_to_authorize(
    system: System,
) -> None:
    async with anonymous(system) as api:
        spec = (await api.get("/openapi.json")).json()

    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    students = spec["paths"]["/students"]["post"]
    assert students["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(students["responses"])
    assert "security" not in spec["paths"]["/readyz"]["get"]


async def test_a_read_only_key_may_read_but_not_start_a_saga(system: System) -> None:
    student = new_student()

    async with anonymous(system) as api:
        listed = await api.get("/sagas", headers=READ_ONLY_HEADERS)
        started = await api.post("/students", json=student, headers=READ_ONLY_HEADERS)

    assert listed.status_code == 200
    assert started.status_code == 403
    assert started.headers["content-type"] == PROBLEM_JSON
    assert 'error="insufficient_scope"' in started.headers["www-authenticate"]
    assert (await system.api.get(f"/sagas/{student['student_id']}")).status_code == 404


async def test_every_key_listed_is_accepted_so_keys_can_be_rotated(system: System) -> None:
    new_key = "rotated-api-key-3e7a9c1f5b8d2a6e"
    settings = OrchestratorSettings(api_keys=f"{TEST_API_KEY},{new_key}")

    with serve_in_thread(create_api(settings, client=system.temporal)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            old = await api.get("/sagas", headers=API_HEADERS)
            new = await api.get("/sagas", headers=bearer_headers(new_key))
            gone = await api.get("/sagas", headers=bearer_headers("an-older-revoked-key"))

    assert (old.status_code, new.status_code, gone.status_code) == (200, 200, 401)


def worker_settings(system: System, task_queue: str, service_token: str) -> WorkerSettings:
    return WorkerSettings(
        temporal_address=system.temporal.service_client.config.target_host,
        payload_keys=TEST_PAYLOAD_KEYS,
        task_queue=task_queue,
        enrollment_url=str(system.enrollment.base_url),
        billing_url=str(system.billing.base_url),
        service_tokens=service_token,
    )


async def refused_attempts(client: Client, student_id: str) -> tuple[int, str]:
    """The pending activity's attempt number and its last failure's type (its message is
    encrypted with the payloads)."""
    description = await client.get_workflow_handle(workflow_id_for(student_id)).describe()
    pending = description.raw_description.pending_activities
    if not pending:
        return 0, ""
    return pending[0].attempt, pending[0].last_failure.application_failure_info.type


async def test_a_worker_with_a_wrong_service_token_writes_nothing_and_the_saga_resumes_once_fixed(
    system: System,
) -> None:
    task_queue = unique_task_queue()
    student = new_student()
    event = NewStudent(**student)
    student_id = student["student_id"]

    wrong = worker_settings(system, task_queue, "a-token-the-services-never-issued")
    async with saga_worker(system.temporal, wrong):
        await sagas.start_saga(system.temporal, task_queue, event)
        deadline = time.monotonic() + 60
        while (attempts := await refused_attempts(system.temporal, student_id))[0] < 3:
            assert time.monotonic() < deadline, f"no retried refusal: {attempts}"
            await asyncio.sleep(0.2)
        waiting = await sagas.saga_state(system.temporal, student_id)

    assert attempts[1] == ErrorType.NOT_AUTHORIZED
    assert waiting.status is SagaStatus.RUNNING
    assert waiting.completed_steps == []
    for service, path in ((system.enrollment, "/enrollments"), (system.billing, "/charges")):
        assert (await service.get(path, params={"student_id": student_id})).json() == []

    right = worker_settings(system, task_queue, TEST_SERVICE_TOKEN)
    async with saga_worker(system.temporal, right):
        final = await system.wait_for_terminal(student_id, timeout=120)

    assert final["status"] == SagaStatus.COMPLETED
    enrollments = await system.enrollment.get("/enrollments", params={"student_id": student_id})
    charges = await system.billing.get("/charges", params={"student_id": student_id})
    assert [e["status"] for e in enrollments.json()] == ["CONFIRMED"]
    assert [c["status"] for c in charges.json()] == ["CAPTURED"]
