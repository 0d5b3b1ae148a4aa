"""Fault injection for tests and demos, the same in every service; off unless FAULT_INJECTION=1.

`install_fault_injection(app, routers, operations)` adds `GET/POST/DELETE /_faults` and an ASGI
middleware that, for each request to one of the service's commands (reserve, charge, ...), draws
the first matching rule and applies it around the real route, which stays untouched:

- `error_before_commit`: answer 503 problem+json; the route never runs, nothing is written.
- `error_after_commit`: run the route (it commits), then throw its answer away and send a 503,
  or with `drop_connection` close the connection mid-response: the caller loses the answer.
- `latency`: wait `latency_ms`, then run the route.
- `crash`: exit the process at once (`os._exit`), before the route runs.

The same rules reach the service's choreography consumer: `operations` names, for each command,
the events on which the consumer performs it too, and choreography/faults.py `CommandFaults`
draws from the same store for each such delivery (the broker-side twin of each kind is there).

Rules live in the process's memory: a restart forgets them, as it would forget a real glitch.
"""

import asyncio
import logging
import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, FastAPI, Response, status
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.problems import ProblemError, ProblemSpec, problem_response, problem_responses
from common.requests import JsonBody

log = logging.getLogger(__name__)

FAULTS_PATH = "/_faults"
CRASH_EXIT_CODE = 70
INJECTED_FAULT = ProblemSpec(503, "injected-fault", "Service Unavailable")


class FaultKind(StrEnum):
    ERROR_BEFORE_COMMIT = "error_before_commit"
    ERROR_AFTER_COMMIT = "error_after_commit"
    LATENCY = "latency"
    CRASH = "crash"


class FaultRuleCreate(BaseModel):
    """A rule as posted: which command, what goes wrong, how often and how many times."""

    model_config = ConfigDict(extra="forbid")

    operation: str = Field(min_length=1, max_length=32, description="e.g. reserve, charge")
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(
        default=None, ge=1, description="Fire at most this many times; unlimited if absent"
    )
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    drop_connection: bool = Field(
        default=False, description="error_after_commit: drop the connection instead of a 503"
    )

    @model_validator(mode="after")
    def latency_has_a_duration(self) -> "FaultRuleCreate":
        if self.kind is FaultKind.LATENCY and self.latency_ms == 0:
            raise ValueError("a latency rule needs latency_ms > 0")
        return self


class FaultRule(FaultRuleCreate):
    rule_id: int
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count


class FaultStore:
    """The rules of one process. `draw` is called once per request to a command: the first rule
    of that operation that is not exhausted and whose probability roll succeeds fires."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, rule: FaultRuleCreate) -> FaultRule:
        with self._lock:
            stored = FaultRule(**rule.model_dump(), rule_id=self._next_id)
            self._next_id += 1
            self._rules.append(stored)
            return stored.model_copy()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [rule.model_copy() for rule in self._rules]

    def remove(self, rule_id: int) -> FaultRule | None:
        """Remove a rule; returns it with its final hit count (None if there was none)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.rule_id == rule_id:
                    return self._rules.pop(index)
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def draw(self, operation: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.operation != operation or rule.exhausted:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                return rule.model_copy()
        return None


OperationOf = Callable[[Scope], str | None]


@dataclass(frozen=True)
class FaultyOperation:
    """One command of a service by every way it is invoked: the endpoint functions that serve it
    over HTTP (the orchestrated saga's calls) and the event types on whose delivery the service's
    consumer performs it (the choreographed saga's), so a rule on it meets both."""

    routes: Sequence[Callable[..., Any]]
    # Event classes (choreography.events; this module sits below the choreography).
    reactions: Sequence[type] = ()


Operations = Mapping[str, FaultyOperation]
"""Each command's name, and how it is invoked."""


class FaultInjectionMiddleware:
    """Applies the drawn rule around the request; requests to anything else pass untouched."""

    def __init__(self, app: ASGIApp, store: FaultStore, operation_of: OperationOf) -> None:
        self._app = app
        self._store = store
        self._operation_of = operation_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self._operation_of(scope) if scope["type"] == "http" else None
        rule = self._store.draw(operation) if operation is not None else None
        if operation is None or rule is None:
            await self._app(scope, receive, send)
            return
        where = f"{scope['method']} {scope['path']}"
        log.warning("injecting %s into %s (%s, rule %d)", rule.kind, operation, where, rule.rule_id)
        if rule.kind is FaultKind.LATENCY:
            # As a slow handler would: the request is received, then takes long to process,
            # and is processed even if the caller has given up waiting meanwhile.
            receive = await _buffered(receive)
            await asyncio.sleep(rule.latency_ms / 1000)
            await self._app(scope, receive, send)
        elif rule.kind is FaultKind.ERROR_BEFORE_COMMIT:
            await _send_injected_503(scope, receive, send, f"{operation} was not performed.")
        elif rule.kind is FaultKind.ERROR_AFTER_COMMIT:
            await self._lose_the_answer(scope, receive, send, rule, operation)
        else:
            os._exit(CRASH_EXIT_CODE)  # a crash: no cleanup, no answer, as with a real one

    async def _lose_the_answer(
        self, scope: Scope, receive: Receive, send: Send, rule: FaultRule, operation: str
    ) -> None:
        started: list[Message] = []

        async def keep_start(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)

        await self._app(scope, receive, keep_start)
        if not rule.drop_connection:
            await _send_injected_503(scope, receive, send, f"{operation} was performed.")
            return
        # Headers announce a body that never comes; the server then closes the connection, so
        # the client sees a broken response, not an error status it could interpret.
        start = dict(started[0]) if started else {"type": "http.response.start", "status": 200}
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1024")]
        await send({**start, "headers": headers})
        raise InjectedConnectionDrop(f"dropping the connection after {operation} committed")


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; the returned `receive` replays it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


class InjectedConnectionDrop(Exception):
    """Raised after the response started: the server closes the connection mid-response."""


async def _send_injected_503(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    await problem_response(INJECTED_FAULT, f"Injected fault: {detail}")(scope, receive, send)


def route_operations(routers: Sequence[APIRouter], operations: Operations) -> OperationOf:
    """Find a request's operation by the route that will serve it: `operations` names each
    command's endpoint functions, so paths can change without touching the faults. The routers
    are the ones the app includes (without an extra prefix)."""
    by_endpoint = {
        endpoint: name for name, operation in operations.items() for endpoint in operation.routes
    }
    routes = [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint in by_endpoint
    ]

    def operation_of(scope: Scope) -> str | None:
        for route in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return by_endpoint[route.endpoint]
        return None

    return operation_of


def faults_router(store: FaultStore, operations: Sequence[str]) -> APIRouter:
    router = APIRouter(prefix=FAULTS_PATH, tags=["fault injection"])

    @router.get("")
    def list_rules() -> list[FaultRule]:
        """The installed rules with how often each fired."""
        return store.rules()

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        dependencies=[JsonBody],
        responses=problem_responses(415, 422),
    )
    def add_rule(rule: FaultRuleCreate) -> FaultRule:
        """Install a rule on one of this service's commands."""
        if rule.operation not in operations:
            raise ProblemError(
                422,
                "unknown-operation",
                "Unknown operation",
                f"'{rule.operation}' is not a command of this service "
                f"(one of: {', '.join(operations)}).",
            )
        return store.add(rule)

    @router.delete("", status_code=status.HTTP_204_NO_CONTENT)
    def clear_rules() -> Response:
        """Remove every rule."""
        store.clear()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete("/{rule_id}", responses=problem_responses(404))
    def remove_rule(rule_id: int) -> FaultRule:
        """Remove one rule; the answer is the rule with its final hit count."""
        removed = store.remove(rule_id)
        if removed is None:
            raise ProblemError(404, "fault-rule-not-found", "Rule not found", f"No rule {rule_id}.")
        return removed

    return router


def install_fault_injection(
    app: FastAPI,
    routers: Sequence[APIRouter],
    operations: Operations,
    store: FaultStore | None = None,
) -> FaultStore:
    """Add the /_faults routes and the middleware; only call it when fault injection is on.
    `store`: the rules, when the service's consumer draws from them too (a new one otherwise)."""
    store = store if store is not None else FaultStore()
    app.include_router(faults_router(store, list(operations)))
    app.add_middleware(
        FaultInjectionMiddleware,  # type: ignore[arg-type]
        store=store,
        operation_of=route_operations(routers, operations),
    )
    return store
