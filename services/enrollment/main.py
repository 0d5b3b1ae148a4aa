"""App factory of the enrollment service (services/app.py assembles it); nothing is built at
import time."""

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import Session

from choreography import runtime
from choreography.events import PaymentCaptured, PaymentDeclined, PaymentRefunded, StudentCreated
from choreography.faults import DeliveryFaults
from choreography.topology import ENROLLMENT
from common.faults import FaultyOperation, Operations
from common.migrations import Schema
from services.app import Consumer, Service, create_service_app
from services.enrollment import api, consumers, service
from services.enrollment.config import EnrollmentSettings
from services.enrollment.models import TABLES

SERVICE_NAME = ENROLLMENT
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


ENROLLMENT_SERVICE = Service(
    name=SERVICE_NAME,
    title="Enrollment service",
    schema=SCHEMA,
    problems=api.PROBLEMS,
    routers=[api.courses, api.enrollments],
    faulty_operations=FAULTY_OPERATIONS,
)


def create_app(
    settings: EnrollmentSettings | None = None,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`faults` arms failures on the choreography consumer (tests, demos); `tracer_provider`
    collects this app's spans instead of the one the settings configure (tests)."""
    settings = settings or EnrollmentSettings()
    closed = settings.unconfirmable_courses
    ttl = settings.reservation_ttl_seconds
    consumer = Consumer(consumers.reactions(closed, ttl), consumers.timers(ttl))
    app = create_service_app(
        ENROLLMENT_SERVICE, settings, consumer, faults, tracer_provider, seed=_seed_catalogue
    )
    app.state.unconfirmable_courses = closed
    return app


def _seed_catalogue(engine: Engine) -> None:
    with Session(engine) as session:
        service.seed_catalogue(session)
