"""The one place where a service's HTTP answer becomes a saga outcome.

- Business refusals (402 card declined, 404 unknown course, 409 course full or not confirmable)
  are final: the saga compensates, never retries.
- Transient faults (connection errors, timeouts, 408, 425, 429, 5xx) are retried with backoff.
- 401/403 (a wrong or revoked service token) are retried too: the service refused before doing
  anything, and the fix (SERVICE_TOKENS) is an operator's, after which the saga carries on.
- Any other 4xx means the service cannot accept what we send: a bug, not worth retrying.
"""

import httpx
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from workflows.contracts import ErrorType

REFUSAL_STATUSES = frozenset({402, 404, 409})
TRANSIENT_STATUSES = frozenset({408, 425, 429})
NOT_AUTHORIZED_STATUSES = frozenset({401, 403})


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)[:200]


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None


def raise_for_outcome(response: httpx.Response) -> None:
    """Return for a success; otherwise raise the ApplicationError the workflow reacts to."""
    if response.is_success:
        return
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
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
