"""The whole orchestrated system from real parts, once per test session.

Temporal dev server (pinned binary, real gRPC), enrollment and billing over real HTTP with
their own SQLite databases, billing behind a fault-injecting proxy, the saga worker, and the
orchestrator API over real HTTP. Nothing is mocked.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestrator.codec_server import create_app as create_codec_server
from orchestrator.config import CodecServerSettings
from orchestrator.main import create_app as create_api
from orchestrator.worker import saga_worker
from tests.support.faulty_proxy import FaultPlan
from tests.support.servers import free_port, serve_in_thread
from tests.support.stack import (
    FULL_COURSE,
    ServiceUrls,
    orchestrator_settings,
    running_services,
    start_dev_server,
)
from tests.support.temporal import TEST_CODEC_SERVER_TOKEN, TEST_PAYLOAD_KEYS
from workflows.contracts import TERMINAL_STATUSES

__all__ = ["FULL_COURSE", "ServiceUrls", "System", "new_student", "run_saga"]


@dataclass
class System:
    api: httpx.AsyncClient
    enrollment: httpx.AsyncClient
    billing: httpx.AsyncClient
    billing_faults: FaultPlan
    temporal: Client

    async def wait_for_terminal(self, student_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = await self.api.get(f"/sagas/{student_id}")
            if response.status_code == 200 and response.json()["status"] in TERMINAL_STATUSES:
                body: dict[str, Any] = response.json()
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"saga of {student_id} not terminal: {response.text}")
            await asyncio.sleep(0.1)


def new_student(course_id: str = "CS101", payment_token: str = "tok_visa") -> dict[str, str]:
    return {
        "student_id": f"stu-{uuid.uuid4().hex[:10]}",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "course_id": course_id,
        "payment_token": payment_token,
    }


async def run_saga(system: System, student: dict[str, str]) -> dict[str, Any]:
    response = await system.api.post("/students", json=student)
    assert response.status_code == 202, response.text
    return await system.wait_for_terminal(student["student_id"])


@pytest.fixture(scope="session")
def temporal_ui_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def temporal_ui_url(temporal_ui_port: int) -> str:
    """The dev server's Web UI, where the API's `temporal_ui_url` links point."""
    return f"http://127.0.0.1:{temporal_ui_port}"


@pytest.fixture(scope="session")
def ui_codec_endpoint(temporal_ui_url: str) -> Iterator[str]:
    """A codec server for the Web UI, which shows the encrypted payloads decoded through it."""
    settings = CodecServerSettings(
        codec_server_token=TEST_CODEC_SERVER_TOKEN,
        payload_keys=TEST_PAYLOAD_KEYS,
        temporal_ui_url=temporal_ui_url,
    )
    with serve_in_thread(create_codec_server(settings)) as url:
        yield f"{url}/{TEST_CODEC_SERVER_TOKEN}"


@pytest.fixture(scope="session")
async def temporal_env(
    temporal_ui_port: int, ui_codec_endpoint: str
) -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server(
        ui_port=temporal_ui_port, ui_codec_endpoint=ui_codec_endpoint
    ) as env:
        yield env


@pytest.fixture(scope="session")
def service_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    with running_services(tmp_path_factory.mktemp("services")) as urls:
        yield urls


@pytest.fixture(scope="session")
async def system(
    temporal_env: WorkflowEnvironment, service_urls: ServiceUrls, temporal_ui_url: str
) -> AsyncIterator[System]:
    settings = orchestrator_settings(temporal_env, service_urls, temporal_ui_url=temporal_ui_url)
    async with saga_worker(temporal_env.client, settings):
        with serve_in_thread(create_api(settings)) as api_url:
            async with (
                httpx.AsyncClient(base_url=api_url, timeout=30) as api,
                httpx.AsyncClient(base_url=service_urls.enrollment, timeout=30) as enrollment,
                httpx.AsyncClient(base_url=service_urls.billing, timeout=30) as billing,
            ):
                faults = service_urls.billing_faults
                yield System(api, enrollment, billing, faults, temporal_env.client)


@pytest.fixture
def faults(system: System) -> Iterator[FaultPlan]:
    system.billing_faults.clear()
    yield system.billing_faults
    system.billing_faults.clear()
