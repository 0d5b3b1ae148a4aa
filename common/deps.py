"""FastAPI dependencies shared by the services: the database a route runs its use case on."""

from collections.abc import Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

Params = ParamSpec("Params")
Result = TypeVar("Result")


class Database:
    """A route's way to its use cases: `await database.run(use_case, *args)` calls
    `use_case(session, *args)` in a worker thread, with a session of its own that is closed in
    that same thread.

    One thread hop per request, where a sync route with a session dependency took four (the
    dependency's setup and teardown, the route, the engine lookup) on FastAPI's thread pool;
    measured: the services' CPU per request down by about a sixth (docs/benchmarks.md, tuning
    log, entry 15). The use cases stay synchronous, so SQLite and PostgreSQL calls never block
    the event loop.

    On SQLite the use cases run one at a time: every transaction holds the database's write
    lock anyway (`BEGIN IMMEDIATE`), so more threads at once only wait on it while contending
    for the GIL; the requests queue on the event loop instead, in arrival order. Measured on
    one enrollment process at 100 concurrent requests: 13 % less CPU per request, p99 latency
    0.41 s against 1.4 s (tuning log, entry 22). Create one per app (in its lifespan): the
    queue is the instance's."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._limiter = CapacityLimiter(1) if engine.dialect.name == "sqlite" else None

    async def run(
        self,
        use_case: Callable[Concatenate[Session, Params], Result],
        *args: Params.args,
        **kwargs: Params.kwargs,
    ) -> Result:
        def in_session() -> Result:
            with Session(self.engine, expire_on_commit=False) as session:
                return use_case(session, *args, **kwargs)

        return await to_thread.run_sync(in_session, limiter=self._limiter)


async def get_database(request: Request) -> Database:
    # async: a sync dependency would itself cost a trip through the thread pool.
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]
