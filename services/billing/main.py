"""App factory of the billing service; nothing is built at import time."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from choreography import runtime
from choreography.events import EnrollmentCancelled, EnrollmentConfirmationFailed, SeatReserved
from choreography.faults import CommandFaults, DeliveryFaults
from choreography.topology import BILLING
from common.auth import install_authentication
from common.conventions import install_http_conventions
from common.database import create_database_engine, database_is_reachable
from common.faults import FaultStore, FaultyOperation, Operations, install_fault_injection
from common.health import health_router
from common.migrations import Schema, prepare_database
from common.observability import install_observability
from services.billing import api, consumers
from services.billing.config import BillingSettings
from services.billing.models import TABLES

SERVICE_NAME = "billing"
# The service's database: its own tables and the choreography's outbox and inbox.
SCHEMA = Schema(SERVICE_NAME, Path(__file__).parent / "migrations", (*TABLES, *runtime.TABLES))

# The commands faults can be injected into, by the routes that serve them and the events on
# which the consumer performs them (consumers.reactions): a failed confirmation refunds the
# charge by id, a cancelled enrollment by key. Partial refunds and their reversal (a course
# transfer's) are orchestrated only.
FAULTY_OPERATIONS: Operations = {
    "charge": FaultyOperation([api.create_charge], reactions=[SeatReserved]),
    "refund": FaultyOperation(
        [api.refund_charge, api.refund_by_idempotency_key],
        reactions=[EnrollmentConfirmationFailed, EnrollmentCancelled],
    ),
    "refund_part": FaultyOperation([api.refund_part]),
    "reverse_refund": FaultyOperation([api.reverse_refund_by_idempotency_key]),
}


def create_app(
    settings: BillingSettings | None = None,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`faults` arms failures on the choreography consumer (tests, demos); `tracer_provider`
    collects this app's spans instead of the one the settings configure (tests)."""
    settings = settings or BillingSettings()
    # One set of rules for both ways in: the HTTP routes and the consumer's deliveries.
    fault_store = FaultStore() if settings.fault_injection else None
    command_faults = None if fault_store is None else CommandFaults(fault_store, FAULTY_OPERATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_database_engine(settings.database_url_for(SERVICE_NAME))
        prepare_database(
            engine, SCHEMA, settings.database_migrations, settings.environment == "development"
        )
        app.state.engine = engine
        reactions = consumers.reactions(settings.event_keys())
        async with runtime.running(
            settings, engine, BILLING, reactions, faults, command_faults=command_faults
        ):
            yield
        engine.dispose()

    async def readiness() -> str | None:
        return None if database_is_reachable(app.state.engine) else "Database unreachable."

    app = FastAPI(title="Billing service", version="0.1.0", lifespan=lifespan)
    install_http_conventions(app, api.PROBLEMS)
    install_observability(app, settings, SERVICE_NAME, tracer_provider)
    app.include_router(health_router(readiness))
    app.include_router(api.charges)
    app.include_router(api.refunds)
    if fault_store is not None:
        install_fault_injection(app, [api.charges, api.refunds], FAULTY_OPERATIONS, fault_store)
    # Last, so outermost: no request without a token reaches a fault or a route.
    install_authentication(app, settings.credentials(SERVICE_NAME))
    return app
