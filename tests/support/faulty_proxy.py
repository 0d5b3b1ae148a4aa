"""A real HTTP reverse proxy that injects network-level faults in front of a service.

Not a mock: requests really travel over HTTP to the real service behind it. A test arms rules
(answer 503, or another status, to the next N requests to a path without forwarding them, or
run a hook first; paths may be fnmatch patterns such as `/charges/by-key/*/refund`) to
reproduce transient outages and interleavings that are otherwise a matter of luck.
"""

import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Hook = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class _Rule:
    method: str
    path: str
    failures_left: int = 0
    hook: Hook | None = None
    status: int = 503


@dataclass
class FaultPlan:
    rules: list[_Rule] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, path: str, times: int, status: int = 503) -> None:
        with self.lock:
            self.rules.append(_Rule(method, path, failures_left=times, status=status))

    def before(self, method: str, path: str, hook: Hook) -> None:
        with self.lock:
            self.rules.append(_Rule(method, path, hook=hook))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.seen.clear()

    def _match(self, method: str, path: str) -> tuple[int | None, Hook | None]:
        """The status to answer without forwarding, or a hook to run first, or neither."""
        with self.lock:
            self.seen[f"{method} {path}"] += 1
            for rule in self.rules:
                if rule.method == method and fnmatchcase(path, rule.path):
                    if rule.failures_left > 0:
                        rule.failures_left -= 1
                        return rule.status, None
                    if rule.hook is not None:
                        return None, rule.hook
        return None, None

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return self.seen[f"{method} {path}"]


def faulty_proxy(upstream: str, plan: FaultPlan) -> Starlette:
    upstream_client: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=upstream, timeout=30) as client:
            upstream_client["client"] = client
            yield

    async def forward(request: Request) -> Response:
        body = await request.body()
        fail_status, hook = plan._match(request.method, request.url.path)
        if fail_status is not None:
            return JSONResponse({"detail": "injected fault"}, status_code=fail_status)
        if hook is not None:
            await hook(await request.json() if body else {})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        upstream_response = await upstream_client["client"].request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=body,
            headers=headers,
        )
        return Response(
            upstream_response.content,
            status_code=upstream_response.status_code,
            headers={
                k: v
                for k, v in upstream_response.headers.items()
                if k.lower() not in {"content-length", "transfer-encoding", "connection"}
            },
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[Route("/{path:path}", forward, methods=methods)],
        lifespan=lifespan,
    )
