"""The whole orchestrated system from real parts, once per test session.

Temporal dev server (pinned binary, real gRPC), enrollment and billing over real HTTP with
their own SQLite databases, billing behind a fault-injecting proxy, the saga worker, and the
orchestrator API over real HTTP. Nothing is mocked.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from choreography.config import BrokerConfig
from choreography.faults import DeliveryFaults
from orchestrator.api.app import create_app as create_api
from orchestrator.codec_server import create_app as create_codec_server
from orchestrator.config import CodecServerSettings
from orchestrator.worker.main import saga_worker
from sagas import TERMINAL_STATUSES
from tests.support import invariants
from tests.support.broker import (
    EmbeddedNats,
    delete_rabbitmq_namespace,
    rabbitmq_url,
    unique_namespace,
)
from tests.support.credentials import API_HEADERS, SERVICE_HEADERS
from tests.support.databases import fresh_postgres_database, postgres_admin_url
from tests.support.faulty_proxy import FaultPlan
from tests.support.servers import free_port, serve_in_thread
from tests.support.stack import (
    FULL_COURSE,
    Observation,
    ServiceUrls,
    orchestrator_settings,
    running_services,
    start_dev_server,
    worker_settings,
)
from tests.support.temporal import TEST_CODEC_SERVER_TOKEN, TEST_PAYLOAD_KEYS

__all__ = ["FULL_COURSE", "ServiceUrls", "System", "new_student", "run_saga"]


@dataclass
class System:
    api: httpx.AsyncClient
    enrollment: httpx.AsyncClient
    billing: httpx.AsyncClient
    billing_faults: FaultPlan
    temporal: Client
    # The choreography side of the same deployment (services' consumers, API's tracker).
    delivery_faults: DeliveryFaults = field(default_factory=DeliveryFaults)
    broker: BrokerConfig | None = None
    api_database_url: str | None = None
    nats: EmbeddedNats | None = None
    # The worker's task queue, for what starts sagas without the API (the event intake).
    task_queue: str = ""
    # Where the services keep their SQLite files (enrollment.db, billing.db) and the API api.db.
    data_dir: Path | None = None

    async def wait_for_terminal(self, saga_id: str, timeout: float = 60.0) -> dict[str, Any]:
        return await self.wait_for_status(saga_id, *TERMINAL_STATUSES, timeout=timeout)

    async def wait_for_status(
        self, saga_id: str, *statuses: str, timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = await self.api.get(f"/sagas/{saga_id}")
            if response.status_code == 200 and response.json()["status"] in statuses:
                body: dict[str, Any] = response.json()
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"saga {saga_id} not in {statuses}: {response.text}")
            await asyncio.sleep(0.1)

    async def enrollments_of(self, student_id: str) -> list[dict[str, Any]]:
        response = await self.enrollment.get("/enrollments", params={"student_id": student_id})
        enrollments: list[dict[str, Any]] = response.json()
        return enrollments

    async def charges_of(self, student_id: str) -> list[dict[str, Any]]:
        response = await self.billing.get("/charges", params={"student_id": student_id})
        charges: list[dict[str, Any]] = response.json()
        return charges

    async def seats_taken(self, course_id: str = "CS101") -> int:
        taken: int = (await self.enrollment.get(f"/courses/{course_id}")).json()["seats_taken"]
        return taken


def new_student(course_id: str = "CS101", payment_token: str = "tok_visa") -> dict[str, str]:
    return {
        "student_id": f"stu-{uuid.uuid4().hex[:10]}",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "course_id": course_id,
        "payment_token": payment_token,
    }


async def run_saga(
    system: System, student: dict[str, str], mode: str = "orchestration"
) -> dict[str, Any]:
    response = await system.api.post("/students", json={**student, "mode": mode})
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
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """The embedded NATS JetStream server every choreography test on NATS shares."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def deployment(
    temporal_env: WorkflowEnvironment,
    data_dir: Path,
    broker: BrokerConfig,
    temporal_ui_url: str | None = None,
    nats: EmbeddedNats | None = None,
    observation: Observation | None = None,
    worker_client: Client | None = None,
    enrollment_settings: dict[str, Any] | None = None,
    database_urls: tuple[str, str] | None = None,
) -> AsyncIterator[System]:
    """Services, worker and API, with both modes on: orchestrated over Temporal, choreographed
        over `broker` (consumers in the services, tracker and outbox in the API). `observation`
        collects every process's spans; `worker_client` (e.g. one whose runtime serves metrics)
        replaces the environment's client for the worker; `enrollment_settings` override the
    enrollment service's (e.g. a short reservation_ttl_seconds); `database_urls` put the services
    on those databases (enrollment's, billing's) instead of SQLite files."""
    observation = observation or Observation()
    broker_settings = {
        "broker_url": broker.url,
        "broker_namespace": broker.namespace,
        "broker_max_attempts": broker.max_attempts,
        # The API seals the events' personal data, billing opens the payment token.
        "event_payload_keys": SecretStr(TEST_PAYLOAD_KEYS),
    }
    delivery_faults = DeliveryFaults()
    api_database_url = f"sqlite:///{data_dir / 'api.db'}"
    with running_services(
        data_dir, broker_settings, delivery_faults, observation, enrollment_settings, database_urls
    ) as urls:
        overrides: dict[str, Any] = {**broker_settings, "database_url": api_database_url}
        if temporal_ui_url is not None:
            overrides["temporal_ui_url"] = temporal_ui_url
        settings = orchestrator_settings(temporal_env, urls, **overrides)
        async with saga_worker(
            worker_client or temporal_env.client,
            worker_settings(settings),
            observation.tracer_provider("saga-worker"),
        ):
            api_app = create_api(
                settings,
                faults=delivery_faults,
                tracer_provider=observation.tracer_provider("saga-api"),
            )
            with serve_in_thread(api_app) as api_url:
                async with (
                    httpx.AsyncClient(base_url=api_url, headers=API_HEADERS, timeout=30) as api,
                    httpx.AsyncClient(
                        base_url=urls.enrollment, headers=SERVICE_HEADERS, timeout=30
                    ) as enrollment,
                    httpx.AsyncClient(
                        base_url=urls.billing, headers=SERVICE_HEADERS, timeout=30
                    ) as billing,
                ):
                    yield System(
                        api,
                        enrollment,
                        billing,
                        urls.billing_faults,
                        temporal_env.client,
                        delivery_faults,
                        broker,
                        api_database_url,
                        nats,
                        settings.task_queue,
                        data_dir,
                    )


@pytest.fixture(scope="session")
async def system(
    temporal_env: WorkflowEnvironment,
    nats_server: EmbeddedNats,
    temporal_ui_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    """The whole system; choreography on the embedded NATS."""
    broker = BrokerConfig(url=nats_server.url, namespace=unique_namespace(), max_attempts=5)
    data_dir = tmp_path_factory.mktemp("services")
    async with deployment(temporal_env, data_dir, broker, temporal_ui_url, nats_server) as system:
        yield system


@pytest.fixture(scope="session")
async def rabbitmq_system(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """The whole system again, with choreography on RabbitMQ (TEST_RABBITMQ_URL)."""
    url = rabbitmq_url()
    if url is None:
        pytest.skip("RabbitMQ tests need TEST_RABBITMQ_URL (CI sets it)")
    broker = BrokerConfig(url=url, namespace=unique_namespace(), max_attempts=5)
    data_dir = tmp_path_factory.mktemp("services-rabbitmq")
    try:
        async with deployment(temporal_env, data_dir, broker) as system:
            yield system
    finally:
        await delete_rabbitmq_namespace(broker)


@pytest.fixture(scope="session")
async def postgres_system(
    temporal_env: WorkflowEnvironment,
    nats_server: EmbeddedNats,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    """The whole system again, its services on PostgreSQL (TEST_POSTGRES_URL): each its own
    fresh database."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (CI sets it)")
    broker = BrokerConfig(url=nats_server.url, namespace=unique_namespace(), max_attempts=5)
    data_dir = tmp_path_factory.mktemp("services-postgres")
    with (
        fresh_postgres_database(admin_url) as enrollment,
        fresh_postgres_database(admin_url) as billing,
    ):
        async with deployment(
            temporal_env, data_dir, broker, nats=nats_server, database_urls=(enrollment, billing)
        ) as system:
            yield system


@pytest.fixture
def faults(system: System) -> Iterator[FaultPlan]:
    system.billing_faults.clear()
    yield system.billing_faults
    system.billing_faults.clear()


@pytest.fixture(
    params=[
        "orchestration",
        "choreography-nats",
        pytest.param("choreography-rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
def mode_system(request: pytest.FixtureRequest) -> Iterator[tuple[str, System]]:
    """(mode, system) for the scenarios both modes must pass; faults cleared around each."""
    fixture = "rabbitmq_system" if request.param.endswith("rabbitmq") else "system"
    system: System = request.getfixturevalue(fixture)
    mode = request.param.split("-")[0]
    system.billing_faults.clear()
    system.delivery_faults.clear()
    known = invariant_violations(system)
    yield mode, system
    system.billing_faults.clear()
    system.delivery_faults.clear()
    assert invariant_violations(system) - known == set()


@pytest.fixture(params=["nats", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def choreographed(request: pytest.FixtureRequest) -> Iterator[System]:
    """The system, for choreography-only tests on each broker; delivery faults cleared."""
    system: System = request.getfixturevalue(
        "rabbitmq_system" if request.param == "rabbitmq" else "system"
    )
    system.delivery_faults.clear()
    known = invariant_violations(system)
    yield system
    system.delivery_faults.clear()
    assert invariant_violations(system) - known == set()


def invariant_violations(system: System) -> set[str]:
    """What the reliability issue's invariant checker finds now, over both modes. The fixtures
    above compare before and after each scenario: the system is shared, and other tests leave
    broken sagas behind on purpose (e.g. a FAILED saga whose refund was refused), which must
    not hide a scenario's own."""

    async def check() -> set[str]:
        temporal = await Client.connect(
            system.temporal.service_client.config.target_host,
            data_converter=system.temporal.data_converter,
        )
        async with (
            httpx.AsyncClient(base_url=system.enrollment.base_url) as enrollment,
            httpx.AsyncClient(base_url=system.billing.base_url) as billing,
        ):
            return await invariants.violations(
                temporal, enrollment, billing, system.api_database_url
            )

    return asyncio.run(check())
