"""HTTP clients of the enrollment and billing services, used by the saga's activities.

Each holds a pooled `httpx.AsyncClient` (keep-alive connections reused across activities).
Connection errors and timeouts propagate as httpx exceptions, which Temporal retries.
"""

from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.config import OrchestratorSettings
from orchestrator.errors import raise_for_outcome


def create_http_client(base_url: str, settings: OrchestratorSettings) -> httpx.AsyncClient:
    """Every request carries the service token: the services refuse writes without it (401,
    which errors.py makes a retryable failure: a worker with a wrong token stalls, visibly,
    rather than completing half a saga)."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=settings.service_headers(),
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_connections,
        ),
    )


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
