"""App factory of the intake process: the consumer runs for as long as the app does, and the app
serves the health routes (/healthz, /readyz) that `make up` and docker-compose wait on."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client

from common.health import health_router
from common.tracing import create_tracer_provider
from orchestrator.intake import IntakeBroker, create_broker
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.deliveries import Intake, log
from orchestrator.temporal import connect

SERVICE_NAME = "saga-intake"


def create_app(
    settings: IntakeSettings | None = None,
    client: Client | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`client` lets tests share one connection; `tracer_provider` collects the spans instead
    of the one the settings configure (tests)."""
    settings = settings or IntakeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await connect(settings)
        provider = tracer_provider or create_tracer_provider(settings, SERVICE_NAME)
        async with running_intake(settings, temporal, provider) as broker:
            app.state.temporal = temporal
            app.state.broker = broker
            yield

    app = FastAPI(title="Saga event intake", version="0.1.0", lifespan=lifespan)

    async def readiness() -> str | None:
        if not app.state.broker.connected:
            return f"the broker at {settings.intake_broker()} is unreachable"
        try:
            await app.state.temporal.service_client.check_health()
        except Exception as error:
            return f"Temporal at {settings.temporal_address} unreachable: {error}"
        return None

    app.include_router(health_router(readiness))
    return app


@asynccontextmanager
async def running_intake(
    settings: IntakeSettings, client: Client, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[IntakeBroker]:
    """The intake consuming in the background until the block ends."""
    broker = create_broker(settings)
    await broker.connect()
    try:
        await broker.start(Intake(client, settings, tracer_provider))
        log.info(
            "intake consuming %s on %s, starting sagas on task queue %r",
            _channel(settings),
            settings.intake_broker_kind(),
            settings.task_queue,
        )
        yield broker
    finally:
        await broker.close()
        log.info("intake stopped")


def _channel(settings: IntakeSettings) -> str:
    if settings.intake_broker_kind() == "rabbitmq":
        return (
            f"exchange {settings.intake_rabbitmq_exchange!r} "
            f"({settings.intake_rabbitmq_routing_key!r}) via queue "
            f"{settings.intake_rabbitmq_queue!r}"
        )
    return f"subject {settings.intake_nats_subject!r} of stream {settings.intake_nats_stream!r}"
