"""App factory of the orchestrator API; the Temporal client is connected in the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client

from choreography import runtime
from choreography import sagas as choreographed
from choreography.faults import DeliveryFaults
from choreography.saga_metrics import SagaOutcomeMetrics
from choreography.topology import SUBSCRIPTIONS, TRACKER
from choreography.tracker import track
from common.auth import install_authentication
from common.conventions import install_http_conventions
from common.database import create_database_engine
from common.health import health_router
from common.migrations import Schema, prepare_database
from common.observability import install_observability
from orchestrator.api import routes
from orchestrator.clients import EnrollmentClient, create_http_client
from orchestrator.config import OrchestratorSettings
from orchestrator.telemetry import traced_client
from orchestrator.temporal import connect

SERVICE_NAME = "saga-api"

# The API's own database, used only for choreographed sagas (BROKER_URL set): their registry, the
# saga tracker, and the outbox and inbox of the API's place on the bus.
API_SCHEMA = Schema(
    "api", Path(__file__).parent.parent / "migrations", (*choreographed.TABLES, *runtime.TABLES)
)


def create_app(
    settings: OrchestratorSettings | None = None,
    client: Client | None = None,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`client` lets tests share one connection; otherwise one is made at startup.
    `faults` arms failures on the saga tracker's consumer (tests); `tracer_provider` collects
    the spans instead of the one the settings configure (tests)."""
    settings = settings or OrchestratorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.temporal = traced_client(client or await connect(settings), tracer_provider)
        app.state.choreography = None
        # A transfer starts only for a student the enrollment service finds enrolled.
        async with create_http_client(settings.enrollment_url, settings) as enrollment_http:
            app.state.enrollment = EnrollmentClient(enrollment_http)
            if settings.broker_url is None:
                yield
                return
            engine = create_database_engine(settings.database_url_for_api())
            prepare_database(
                engine,
                API_SCHEMA,
                settings.database_migrations,
                settings.environment == "development",
            )
            reactions = {event_type: track for event_type in SUBSCRIPTIONS[TRACKER]}
            saga_metrics = SagaOutcomeMetrics(app.state.metrics.registry)
            async with runtime.running(
                settings,
                engine,
                TRACKER,
                reactions,
                faults,
                saga_metrics=saga_metrics,
                tracer_provider=tracer_provider,
            ) as choreography:
                app.state.choreography = choreography
                yield
            engine.dispose()

    async def readiness() -> str | None:
        try:
            await app.state.temporal.service_client.check_health()
        except Exception as error:
            return f"Temporal at {settings.temporal_address} unreachable: {error}"
        return None

    app = FastAPI(
        title="Saga orchestrator API",
        version="0.1.0",
        description="Starts sagas (student onboarding, course transfer) on Temporal, reports "
        "their status, retries and resumes them.",
        lifespan=lifespan,
    )
    install_http_conventions(app, routes.PROBLEMS)
    tracer_provider = install_observability(app, settings, SERVICE_NAME, tracer_provider)
    app.include_router(health_router(readiness))
    app.include_router(routes.router)
    install_authentication(app, settings.api_credentials())  # last: outermost
    return app
