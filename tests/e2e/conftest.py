"""The whole orchestrated system from real parts, once per test session.

Temporal dev server (pinned binary, real gRPC), enrollment and billing over real HTTP with
their own SQLite databases, billing behind a fault-injecting proxy, the saga worker, and the
orchestrator API over real HTTP. Nothing is mocked.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from common.database import create_database_engine, create_tables
from orchestrator.config import OrchestratorSettings
from orchestrator.main import create_app as create_api
from orchestrator.worker import saga_worker
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from services.enrollment.models import TABLES as ENROLLMENT_TABLES
from services.enrollment.models import CourseBase
from services.enrollment.service import seed_catalogue
from tests.support.faulty_proxy import FaultPlan, faulty_proxy
from tests.support.servers import serve_in_thread
from tests.support.temporal import TEMPORAL_CLI, unique_task_queue
from workflows.contracts import SEARCH_ATTRIBUTES, TERMINAL_STATUSES

# A course that is always full, for the course-full scenario.
FULL_COURSE = CourseBase(
    course_id="FULL0", title="Always full", capacity=0, tuition_cents=10_000, currency="USD"
)


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


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    async with env:
        yield env


@dataclass
class ServiceUrls:
    enrollment: str
    billing: str
    billing_via_proxy: str
    billing_faults: FaultPlan


@pytest.fixture(scope="session")
def service_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    data_dir: Path = tmp_path_factory.mktemp("services")
    enrollment_db = f"sqlite:///{data_dir / 'enrollment.db'}"
    engine = create_database_engine(enrollment_db)
    create_tables(engine, ENROLLMENT_TABLES)
    with Session(engine) as session:
        seed_catalogue(session, [FULL_COURSE])
    engine.dispose()
    plan = FaultPlan()
    with (
        serve_in_thread(create_enrollment(EnrollmentSettings(database_url=enrollment_db))) as enr,
        serve_in_thread(create_billing(BillingSettings(data_dir=data_dir))) as billing,
        serve_in_thread(faulty_proxy(billing, plan)) as billing_proxy,
    ):
        yield ServiceUrls(enr, billing, billing_proxy, plan)


@pytest.fixture(scope="session")
async def system(
    temporal_env: WorkflowEnvironment, service_urls: ServiceUrls
) -> AsyncIterator[System]:
    host, port = temporal_env.client.service_client.config.target_host.split(":")
    settings = OrchestratorSettings(
        temporal_address=f"{host}:{port}",
        task_queue=unique_task_queue(),
        enrollment_url=service_urls.enrollment,
        billing_url=service_urls.billing_via_proxy,
    )
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
