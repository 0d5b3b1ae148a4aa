"""The orchestrated system's real parts, shared by the e2e fixtures and the history exporter.

A Temporal dev server from the pinned binary (optionally with its Web UI), enrollment and
billing over real HTTP on their own SQLite files, billing behind a fault-injecting proxy, and
the settings a worker or the API needs to use them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from choreography.faults import DeliveryFaults
from common.database import create_database_engine, create_tables
from common.payload_keys import parse_keys
from orchestrator.config import OrchestratorSettings, WorkerSettings
from orchestrator.temporal import data_converter
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from services.enrollment.models import TABLES as ENROLLMENT_TABLES
from services.enrollment.models import CourseBase
from services.enrollment.service import seed_catalogue
from tests.support.credentials import TEST_API_KEY, TEST_READ_ONLY_API_KEY, TEST_SERVICE_TOKEN
from tests.support.faulty_proxy import FaultPlan, faulty_proxy
from tests.support.servers import serve_in_thread
from tests.support.temporal import TEMPORAL_CLI, TEST_PAYLOAD_KEYS, unique_task_queue
from workflows.visibility import SEARCH_ATTRIBUTES

# A course that is always full, for the course-full scenario.
FULL_COURSE = CourseBase(
    course_id="FULL0", title="Always full", capacity=0, tuition_cents=10_000, currency="USD"
)
# The price of CS101, for a transfer with no difference to settle.
SAME_PRICE_COURSE = CourseBase(
    course_id="CS101E",
    title="Introduction to Computer Science, evening class",
    capacity=1_000_000,
    tuition_cents=120_000,
    currency="USD",
)


@dataclass
class Observation:
    """The spans of every process of a deployment in one in-memory exporter, each process with
    a tracer provider of its own, so that spans name their service as in production."""

    spans: InMemorySpanExporter | None = None

    def tracer_provider(self, service_name: str) -> TracerProvider | None:
        if self.spans is None:
            return None
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        return provider


@dataclass
class ServiceUrls:
    enrollment: str
    billing: str
    billing_via_proxy: str
    billing_faults: FaultPlan


async def start_dev_server(
    ui_port: int | None = None,
    payload_keys: str | None = TEST_PAYLOAD_KEYS,
    ui_codec_endpoint: str | None = None,
) -> WorkflowEnvironment:
    """A Temporal dev server on free ports with the saga's search attributes registered;
    with its Web UI on `ui_port` when given, decoding payloads at `ui_codec_endpoint`. Its
    client encrypts payloads with `payload_keys` (plaintext with None). Use it as an async
    context manager."""
    keys = parse_keys(payload_keys) if payload_keys else None
    codec = ["--ui-codec-endpoint", ui_codec_endpoint] if ui_codec_endpoint else []
    return await WorkflowEnvironment.start_local(
        dev_server_extra_args=codec,
        data_converter=data_converter(keys),
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=ui_port is not None,
        ui_port=ui_port,
    )


def temporal_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@contextmanager
def running_services(
    data_dir: Path,
    broker: dict[str, Any] | None = None,
    delivery_faults: DeliveryFaults | None = None,
    observation: Observation | None = None,
    enrollment_settings: dict[str, Any] | None = None,
    database_urls: tuple[str, str] | None = None,
) -> Iterator[ServiceUrls]:
    """Enrollment (FULL_COURSE and SAME_PRICE_COURSE seeded) and billing, each on its SQLite file
    in `data_dir` (or on `database_urls`, enrollment's and billing's, e.g. PostgreSQL), plus a
    fault-injecting proxy in front of billing. With `broker` settings
    (broker_url, broker_namespace, ...) their choreography consumers run too; with
    `observation`, their spans are collected; `enrollment_settings` override enrollment's
    (e.g. reservation_ttl_seconds). Both want TEST_SERVICE_TOKEN for every write."""
    observation = observation or Observation()
    common = {"service_tokens": TEST_SERVICE_TOKEN, **(broker or {})}
    enrollment_db, billing_db = database_urls or (
        f"sqlite:///{data_dir / 'enrollment.db'}",
        f"sqlite:///{data_dir / 'billing.db'}",
    )
    engine = create_database_engine(enrollment_db)
    create_tables(engine, ENROLLMENT_TABLES)
    with Session(engine) as session:
        seed_catalogue(session, [FULL_COURSE, SAME_PRICE_COURSE])
    engine.dispose()
    plan = FaultPlan()
    with (
        serve_in_thread(
            create_enrollment(
                EnrollmentSettings(
                    database_url=enrollment_db, **common, **(enrollment_settings or {})
                ),
                delivery_faults,
                observation.tracer_provider("enrollment"),
            )
        ) as enr,
        serve_in_thread(
            create_billing(
                BillingSettings(database_url=billing_db, **common),
                delivery_faults,
                observation.tracer_provider("billing"),
            )
        ) as billing,
        serve_in_thread(faulty_proxy(billing, plan)) as billing_proxy,
    ):
        yield ServiceUrls(enr, billing, billing_proxy, plan)


def orchestrator_settings(
    env: WorkflowEnvironment, services: ServiceUrls, **overrides: object
) -> OrchestratorSettings:
    """Settings for the API on `env` (`worker_settings` makes the worker's from them), calling
    billing through the proxy, on a task queue of their own, with the payload keys
    `start_dev_server` uses by default and the test credentials (tests/support/credentials.py)."""
    settings = OrchestratorSettings(
        temporal_address=temporal_address(env),
        payload_keys=TEST_PAYLOAD_KEYS,
        api_keys=TEST_API_KEY,
        api_read_only_keys=TEST_READ_ONLY_API_KEY,
        service_tokens=TEST_SERVICE_TOKEN,
        task_queue=unique_task_queue(),
        enrollment_url=services.enrollment,
        billing_url=services.billing_via_proxy,
    )
    return settings.model_copy(update=overrides)


def worker_settings(settings: OrchestratorSettings) -> WorkerSettings:
    """A worker configured like this API: the fields the two share, for tests that run both."""
    return WorkerSettings(**settings.model_dump(include=set(WorkerSettings.model_fields)))
