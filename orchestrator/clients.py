"""HTTP clients of the enrollment and billing services, used by the saga's activities.

Each service gets one `aiohttp.ClientSession` for the worker's life: its connections are kept
alive and reused across activities. aiohttp rather than httpx here, on the measured path: with
a hundred sagas in flight httpx's connection pool walked every connection on each request and
each release, and the worker spent about a quarter less CPU per saga with aiohttp
(docs/benchmarks.md, tuning entry 10). Every request of an activity names its saga in the W3C
`baggage` header, for the services' logs (common/logs.py), and, with tracing on, is a client
span whose context the service continues from `traceparent`. What an answer, or no answer,
means for the saga is decided in one place: orchestrator/errors.py.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from common.logs import current_saga
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ServiceAnswer, no_answer, raise_for_outcome

log = logging.getLogger(__name__)


class ServiceHttp:
    """POSTs to one service: its base URL, the shared session, and a tracer if tracing is on."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, tracer: Tracer | None
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._tracer = tracer
        address = urlsplit(self._base_url)
        self._server: dict[str, str | int] = {
            "server.address": address.hostname or "",
            "server.port": address.port or 80,
        }

    async def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> ServiceAnswer:
        """The service's answer, whatever its status; no answer at all raises a retryable
        ApplicationError naming the request."""
        sent = dict(headers or {})
        saga = current_saga()
        if saga is not None:
            sent["baggage"] = saga.baggage()
        if self._tracer is None:
            return await self._send(path, json, sent)
        with self._tracer.start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "url.full": self._base_url + path,
                **self._server,
            },
        ) as span:
            propagate.inject(sent)  # `traceparent`: this span, continued by the service
            answer = await self._send(path, json, sent)
            span.set_attribute("http.response.status_code", answer.status)
            if answer.status >= 500:
                span.set_status(StatusCode.ERROR)
            return answer

    async def _send(self, path: str, json: Any, headers: dict[str, str]) -> ServiceAnswer:
        try:
            async with self._session.post(
                self._base_url + path, json=json, headers=headers
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise no_answer("POST", path, error) from error
        # One line per call, with the saga's ids (common/logs.py), as the services log theirs.
        log.info("POST %s%s -> %d %s", self._base_url, path, response.status, response.reason)
        return ServiceAnswer("POST", path, response.status, response.reason or "", body)


@asynccontextmanager
async def create_http_client(
    base_url: str, settings: OrchestratorSettings, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[ServiceHttp]:
    """Every request carries the service token: the services refuse writes without it (401,
    which errors.py makes a retryable failure: a worker with a wrong token stalls, visibly,
    rather than completing half a saga). The timeout bounds one request, pool wait included."""
    session = aiohttp.ClientSession(
        headers=settings.service_headers(),
        timeout=aiohttp.ClientTimeout(total=settings.http_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=settings.http_max_connections),
    )
    tracer = tracer_provider.get_tracer(__name__) if tracer_provider is not None else None
    try:
        yield ServiceHttp(session, base_url, tracer)
    finally:
        await session.close()


class EnrollmentClient:
    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    async def reserve_seat(
        self, student_id: str, course_id: str, idempotency_key: str
    ) -> dict[str, Any]:
        answer = await self._http.post(
            "/enrollments",
            json={"student_id": student_id, "course_id": course_id},
            headers={"Idempotency-Key": idempotency_key},
        )
        raise_for_outcome(answer)
        body: dict[str, Any] = answer.json()
        return body

    async def confirm(self, enrollment_id: str) -> None:
        raise_for_outcome(await self._http.post(f"/enrollments/{enrollment_id}/confirm"))

    async def cancel_by_idempotency_key(self, idempotency_key: str) -> None:
        path = f"/enrollments/by-key/{_segment(idempotency_key)}/cancel"
        raise_for_outcome(await self._http.post(path))


class BillingClient:
    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    async def charge(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        answer = await self._http.post(
            "/charges", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        raise_for_outcome(answer)
        charge: dict[str, Any] = answer.json()
        return charge

    async def refund_by_idempotency_key(self, idempotency_key: str) -> None:
        raise_for_outcome(
            await self._http.post(f"/charges/by-key/{_segment(idempotency_key)}/refund")
        )


def _segment(value: str) -> str:
    """Percent-encode a value for use as one path segment."""
    return quote(value, safe="")
