"""How a service's app is assembled, once for both services, so that they cannot drift apart in
what every service must have: its database prepared before the first request, its place in the
choreography (consumer, relay, timers) for the app's lifetime, the HTTP conventions, tracing
and logs, health routes, fault injection on both ways in (the routes and the consumer's
deliveries, one set of rules), and authentication outermost. Nothing is built at import time.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine

from choreography import runtime
from choreography.events import Event
from choreography.faults import CommandFaults, DeliveryFaults
from choreography.inbox import Reaction
from choreography.timers import Timer
from common.auth import install_authentication
from common.conventions import install_http_conventions
from common.database import create_database_engine, database_is_reachable
from common.deps import Database
from common.faults import FaultStore, Operations, install_fault_injection
from common.health import health_router
from common.migrations import Schema, prepare_database
from common.observability import install_observability
from common.problems import ProblemMap
from services.settings import ServiceSettings


@dataclass(frozen=True)
class Service:
    """What a service declares about itself; `name` is its database's, its consumer's on the
    bus (choreography/topology.py) and its spans' service name."""

    name: str
    title: str
    schema: Schema
    problems: ProblemMap
    routers: Sequence[APIRouter]
    # The commands faults can be injected into: their routes (in these routers) and the events
    # on which the consumer performs them.
    faulty_operations: Operations


@dataclass(frozen=True)
class Consumer:
    """The service's part in the choreography, made from its settings."""

    reactions: Mapping[type[Event], Reaction]
    timers: Sequence[Timer] = ()


def create_service_app(
    service: Service,
    settings: ServiceSettings,
    consumer: Consumer,
    faults: DeliveryFaults | None = None,
    tracer_provider: TracerProvider | None = None,
    seed: Callable[[Engine], None] | None = None,
) -> FastAPI:
    """`faults` arms failures on the choreography consumer (tests, demos); `tracer_provider`
    collects this app's spans instead of the one the settings configure (tests); `seed` fills
    the prepared database (reference data) before the first request."""
    # One set of rules for both ways in: the HTTP routes and the consumer's deliveries.
    fault_store = FaultStore() if settings.fault_injection else None
    command_faults = (
        None if fault_store is None else CommandFaults(fault_store, service.faulty_operations)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_database_engine(settings.database_url_for(service.name))
        prepare_database(
            engine,
            service.schema,
            settings.database_migrations,
            settings.environment == "development",
        )
        if seed is not None:
            seed(engine)
        app.state.engine = engine
        app.state.database = Database(engine)
        async with runtime.running(
            settings,
            engine,
            service.name,
            consumer.reactions,
            faults,
            consumer.timers,
            command_faults,
            tracer_provider=tracer_provider,
        ):
            yield
        engine.dispose()

    async def readiness() -> str | None:
        return None if database_is_reachable(app.state.engine) else "Database unreachable."

    app = FastAPI(title=service.title, version="0.1.0", lifespan=lifespan)
    install_http_conventions(app, service.problems)
    # The lifespan's too (read when it runs): the consumer's and the relay's spans.
    tracer_provider = install_observability(app, settings, service.name, tracer_provider)
    app.include_router(health_router(readiness))
    for router in service.routers:
        app.include_router(router)
    if fault_store is not None:
        install_fault_injection(app, service.routers, service.faulty_operations, fault_store)
    # Last, so outermost: no request without a token reaches a fault or a route.
    install_authentication(app, settings.credentials(service.name))
    return app
