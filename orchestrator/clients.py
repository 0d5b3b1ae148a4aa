"""HTTP clients of the enrollment and billing services, used by the saga's activities.

Each service gets one `aiohttp.ClientSession` for the worker's life: its connections are kept
alive and reused across activities. aiohttp rather than httpx here, on the measured path: with
a hundred sagas in flight httpx's connection pool walked every connection on each request and
each release, and the worker spent about a quarter less CPU per saga with aiohttp
(docs/benchmarks.md, "aiohttp instead of httpx"). Every request of an activity names its saga
in the W3C `baggage` header, for the services' logs (common/logs.py), and, with tracing on, is
a client span whose context the service continues from `traceparent`. What an answer, or no
answer, means for the saga is decided in one place: orchestrator/errors.py.
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
from orchestrator.config import ServiceClientSettings
from orchestrator.errors import ServiceAnswer, no_answer, raise_for_outcome

log = logging.getLogger(__name__)


class ServiceHttp:
    """Requests to one service: its base URL, the shared session, and a tracer if tracing is on."""

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
        return await self._request("POST", path, json=json, headers=headers)

    async def get(self, path: str, params: dict[str, str] | None = None) -> ServiceAnswer:
        """As `post`, for a read; `params` is the query string."""
        return await self._request("GET", path, params=params)

    async def _request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> ServiceAnswer:
        sent = dict(headers or {})
        saga = current_saga()
        if saga is not None:
            sent["baggage"] = saga.baggage()
        if self._tracer is None:
            return await self._send(method, path, json, sent, params)
        with self._tracer.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                # Without the query string: its values (a student id) are nobody's business.
                "url.full": self._base_url + path,
                **self._server,
            },
        ) as span:
            propagate.inject(sent)  # `traceparent`: this span, continued by the service
            answer = await self._send(method, path, json, sent, params)
            span.set_attribute("http.response.status_code", answer.status)
            if answer.status >= 500:
                span.set_status(StatusCode.ERROR)
            return answer

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        headers: dict[str, str],
        params: dict[str, str] | None,
    ) -> ServiceAnswer:
        try:
            async with self._session.request(
                method, self._base_url + path, json=json, headers=headers, params=params
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise no_answer(method, path, error) from error
        # One line per call, with the saga's ids (common/logs.py), as the services log theirs.
        log.info("%s %s%s -> %d %s", method, self._base_url, path, response.status, response.reason)
        return ServiceAnswer(method, path, response.status, response.reason or "", body)


@asynccontextmanager
async def create_http_client(
    base_url: str, settings: ServiceClientSettings, tracer_provider: TracerProvider | None = None
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

    async def withdraw(self, enrollment_id: str) -> dict[str, Any]:
        """Withdraw from a CONFIRMED enrollment (idempotent); a PENDING or CANCELLED one is a
        refusal (409 enrollment-not-withdrawable)."""
        answer = await self._http.post(f"/enrollments/{_segment(enrollment_id)}/withdraw")
        raise_for_outcome(answer)
        body: dict[str, Any] = answer.json()
        return body

    async def confirmed_enrollment(self, student_id: str, course_id: str) -> dict[str, Any] | None:
        """The student's CONFIRMED enrollment in the course, or None (the oldest, should there
        ever be two)."""
        answer = await self._http.get(
            "/enrollments",
            params={"student_id": student_id, "status": "CONFIRMED", "course_id": course_id},
        )
        raise_for_outcome(answer)
        found: list[dict[str, Any]] = answer.json()
        return found[0] if found else None


class BillingClient:
    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    async def charge(
        self,
        *,
        student_id: str,
        enrollment_id: str,
        amount_cents: int,
        currency: str,
        payment_token: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        body = {
            "student_id": student_id,
            "enrollment_id": enrollment_id,
            "amount_cents": amount_cents,
            "currency": currency,
            "payment_token": payment_token,
        }
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

    async def refund_part(
        self, charge_id: str, amount_cents: int, idempotency_key: str
    ) -> dict[str, Any]:
        """Refund part of a charge; the refund. More than the charge has left is a refusal
        (409 refund-exceeds-charge), as is a key whose reversal came first (refund-revoked)."""
        answer = await self._http.post(
            f"/charges/{_segment(charge_id)}/refunds",
            json={"amount_cents": amount_cents},
            headers={"Idempotency-Key": idempotency_key},
        )
        raise_for_outcome(answer)
        refund: dict[str, Any] = answer.json()
        return refund

    async def reverse_refund_by_idempotency_key(self, idempotency_key: str) -> None:
        """Undo the partial refund made with this key, or revoke the key if there is none yet.
        A charge refunded in full since is a refusal (409 refund-not-reversible)."""
        raise_for_outcome(
            await self._http.post(f"/refunds/by-key/{_segment(idempotency_key)}/reverse")
        )

    async def charges_of_enrollment(self, enrollment_id: str) -> list[dict[str, Any]]:
        """Every charge made for the enrollment, oldest first, each with its refunds."""
        return await self._charges({"enrollment_id": enrollment_id})

    async def charges_of_student(self, student_id: str) -> list[dict[str, Any]]:
        """Every charge of the student, oldest first, each with its refunds."""
        return await self._charges({"student_id": student_id})

    async def _charges(self, params: dict[str, str]) -> list[dict[str, Any]]:
        answer = await self._http.get("/charges", params=params)
        raise_for_outcome(answer)
        charges: list[dict[str, Any]] = answer.json()
        return charges


def _segment(value: str) -> str:
    """Percent-encode a value for use as one path segment."""
    return quote(value, safe="")
