"""The one place where a service's HTTP answer becomes a saga outcome.

- Business refusals are final: the saga compensates, never retries. 402 card declined; 404
  unknown course, enrollment or charge; 409 by the service's problem type: course-full,
  enrollment-not-confirmable, enrollment-not-withdrawable, reservation-revoked, charge-revoked,
  refund-exceeds-charge, refund-revoked, refund-not-reversible (the last one answers an undo:
  the charge was refunded in full since). The status decides; the problem type travels in the
  error's details for whoever needs the reason as data.
- Transient faults (connection errors, timeouts, 408, 425, 429, 5xx) are retried with backoff.
- 401/403 (a wrong or revoked service token) are retried too: the service refused before doing
  anything, and the fix (SERVICE_TOKENS) is an operator's, after which the saga carries on.
- Any other 4xx means the service cannot accept what we send: a bug, not worth retrying.
- No answer at all (refused connection, reset, timeout) is transient too.
"""

import json
from dataclasses import dataclass
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from sagas import ErrorType

REFUSAL_STATUSES = frozenset({402, 404, 409})
TRANSIENT_STATUSES = frozenset({408, 425, 429})
NOT_AUTHORIZED_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class ServiceAnswer:
    """A service's answer to one request, read in full (orchestrator/clients.py)."""

    method: str
    path: str
    status: int
    reason: str
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        return json.loads(self.body)


def _problem_detail(answer: ServiceAnswer) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.body[:200].decode(errors="replace") or answer.reason
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)[:200]


def _problem_type(answer: ServiceAnswer) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None


def no_answer(method: str, path: str, error: Exception) -> ApplicationError:
    """The request got no answer: retried, with what went wrong in words (a bare timeout
    exception has no message)."""
    what = str(error) or f"no answer within the HTTP timeout ({type(error).__name__})"
    return ApplicationError(f"{method} {path} failed: {what}", type=ErrorType.TRANSIENT_FAULT)


def raise_for_outcome(response: ServiceAnswer) -> None:
    """Return for a success; otherwise raise the ApplicationError the workflow reacts to."""
    if response.is_success:
        return
    status = response.status
    where = response.where
    detail = _problem_detail(response)
    if status in REFUSAL_STATUSES:
        raise ApplicationError(
            detail,
            {"status": status, "problem_type": _problem_type(response)},
            type=ErrorType.STEP_REFUSED,
            non_retryable=True,
            # An expected business outcome, not a worker problem: logged at DEBUG, not as a
            # WARN traceback, and kept out of the SDK's failure metrics.
            category=ApplicationErrorCategory.BENIGN,
        )
    if status in NOT_AUTHORIZED_STATUSES:
        raise ApplicationError(
            f"{where} answered {status}: {detail} Check the worker's SERVICE_TOKENS.",
            type=ErrorType.NOT_AUTHORIZED,
        )
    if status in TRANSIENT_STATUSES or status >= 500:
        raise ApplicationError(
            f"{where} answered {status}: {detail}", type=ErrorType.TRANSIENT_FAULT
        )
    raise ApplicationError(
        f"{where} answered {status}: {detail}",
        type=ErrorType.CONTRACT_VIOLATION,
        non_retryable=True,
    )
