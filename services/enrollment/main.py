"""App factory of the enrollment service; nothing is built at import time."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlmodel import Session

from choreography import runtime
from choreography.events import PaymentCaptured, PaymentDeclined, PaymentRefunded, StudentCreated
from choreography.faults import CommandFaults, DeliveryFaults
from choreography.topology import ENROLLMENT
from common.auth import install_authentication
from common.conventions import install_http_conventions
from common.database import create_database_engine, database_is_reachable
from common.faults import FaultStore, FaultyOperation, Operations, install_fault_injection
from common.health import health_router
from common.migrations import Schema, prepare_database
from common.observability import install_observability
from services.enrollment import api, consumers, service
from services.enrollment.config import EnrollmentSettings
from services.enrollment.models import TABLES

SERVICE_NAME = "enrollment"
# The service's database: its own tables and the choreography's outbox and inbox.
SCHEMA = Schema(SERVICE_NAME, Path(__file__).parent / "migrations", (*TABLES, *runtime.TABLES))

# The commands faults can be injected into, by the routes that serve them and the events on
# which the consumer performs them (consumers.reactions). Withdrawing, a course transfer's
# step, is orchestrated only.
FAULTY_OPERATIONS: Operations = {
    "reserve": FaultyOperation([api.reserve_seat], reactions=[StudentCreated]),
    "confirm": FaultyOperation([api.confirm_enrollment], reactions=[PaymentCaptured]),
    "cancel": FaultyOperation(
        [api.cancel_enrollment, api.cancel_by_idempotency_key],
        reactions=[PaymentDeclined, PaymentRefunded],
    ),
    "withdraw": FaultyOperation([api.withdraw_enrollment]),
}


def create_app(
    settings: EnrollmentSettings | None = None,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`faults` arms failures on the choreography consumer (tests, demos); `tracer_provider`
    collects this app's spans instead of the one the settings configure (tests)."""
    settings = settings or EnrollmentSettings()
    closed = settings.unconfirmable_courses
    # One set of rules for both ways in: the HTTP routes and the consumer's deliveries.
    fault_store = FaultStore() if settings.fault_injection else None
    command_faults = None if fault_store is None else CommandFaults(fault_store, FAULTY_OPERATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_database_engine(settings.database_url_for(SERVICE_NAME))
        prepare_database(
            engine, SCHEMA, settings.database_migrations, settings.environment == "development"
        )
        with Session(engine) as session:
            service.seed_catalogue(session)
        app.state.engine = engine
        ttl = settings.reservation_ttl_seconds
        reactions = consumers.reactions(closed, ttl)
        timers = consumers.timers(ttl)
        async with runtime.running(
            settings, engine, ENROLLMENT, reactions, faults, timers, command_faults
        ):
            yield
        engine.dispose()

    async def readiness() -> str | None:
        return None if database_is_reachable(app.state.engine) else "Database unreachable."

    app = FastAPI(title="Enrollment service", version="0.1.0", lifespan=lifespan)
    app.state.unconfirmable_courses = closed
    install_http_conventions(app, api.PROBLEMS)
    install_observability(app, settings, SERVICE_NAME, tracer_provider)
    app.include_router(health_router(readiness))
    app.include_router(api.courses)
    app.include_router(api.enrollments)
    if fault_store is not None:
        install_fault_injection(app, [api.enrollments], FAULTY_OPERATIONS, fault_store)
    # Last, so outermost: no request without a token reaches a fault or a route.
    install_authentication(app, settings.credentials(SERVICE_NAME))
    return app
