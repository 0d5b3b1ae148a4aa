"""HTTP clients of the enrollment and billing services, used by the saga's activities.

Each holds a pooled `httpx.AsyncClient` (keep-alive connections reused across activities).
Connection errors and timeouts propagate as httpx exceptions, which Temporal retries.
Every request of an activity names its saga in the W3C `baggage` header, for the services'
logs (common/logs.py), and, with tracing on, continues the activity's trace in `traceparent`.
"""

from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry.sdk.trace import TracerProvider

from common.logs import current_saga
from common.tracing import instrument_http_client
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import raise_for_outcome


def create_http_client(
    base_url: str, settings: OrchestratorSettings, tracer_provider: TracerProvider | None = None
) -> httpx.AsyncClient:
    """Every request carries the service token: the services refuse writes without it (401,
    which errors.py makes a retryable failure: a worker with a wrong token stalls, visibly,
    rather than completing half a saga)."""
    client = httpx.AsyncClient(
        base_url=base_url,
        headers=settings.service_headers(),
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_connections,
        ),
        event_hooks={"request": [_name_the_saga]},
    )
    instrument_http_client(client, tracer_provider)
    return client


async def _name_the_saga(request: httpx.Request) -> None:
    saga = current_saga()
    if saga is not None:
        request.headers["baggage"] = saga.baggage()


class EnrollmentClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def reserve_seat(
        self, student_id: str, course_id: str, idempotency_key: str
    ) -> dict[str, Any]:
        response = await self._http.post(
            "/enrollments",
            json={"student_id": student_id, "course_id": course_id},
            headers={"Idempotency-Key": idempotency_key},
        )
        raise_for_outcome(response)
        body: dict[str, Any] = response.json()
        return body

    async def confirm(self, enrollment_id: str) -> None:
        raise_for_outcome(await self._http.post(f"/enrollments/{enrollment_id}/confirm"))

    async def cancel_by_idempotency_key(self, idempotency_key: str) -> None:
        path = f"/enrollments/by-key/{_segment(idempotency_key)}/cancel"
        raise_for_outcome(await self._http.post(path))


class BillingClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def charge(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        response = await self._http.post(
            "/charges", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        raise_for_outcome(response)
        charge: dict[str, Any] = response.json()
        return charge

    async def refund_by_idempotency_key(self, idempotency_key: str) -> None:
        raise_for_outcome(
            await self._http.post(f"/charges/by-key/{_segment(idempotency_key)}/refund")
        )


def _segment(value: str) -> str:
    """Percent-encode a value for use as one path segment."""
    return quote(value, safe="")
