"""App factory of the billing service (services/app.py assembles it); nothing is built at
import time."""

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from choreography import runtime
from choreography.events import EnrollmentCancelled, EnrollmentConfirmationFailed, SeatReserved
from choreography.faults import DeliveryFaults
from choreography.topology import BILLING
from common.faults import FaultyOperation, Operations
from common.migrations import Schema
from services.app import Consumer, Service, create_service_app
from services.billing import api, consumers
from services.billing.config import BillingSettings
from services.billing.models import TABLES

SERVICE_NAME = BILLING
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

BILLING_SERVICE = Service(
    name=SERVICE_NAME,
    title="Billing service",
    schema=SCHEMA,
    problems=api.PROBLEMS,
    routers=[api.charges, api.refunds],
    faulty_operations=FAULTY_OPERATIONS,
)


def create_app(
    settings: BillingSettings | None = None,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`faults` arms failures on the choreography consumer (tests, demos); `tracer_provider`
    collects this app's spans instead of the one the settings configure (tests)."""
    settings = settings or BillingSettings()
    consumer = Consumer(consumers.reactions(settings.event_keys()))
    return create_service_app(BILLING_SERVICE, settings, consumer, faults, tracer_provider)
