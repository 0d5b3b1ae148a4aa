"""What can go wrong in a saga, as types: the activities' error types and the failure kinds.

An activity says how a call ended with `ApplicationError.type` (one of `ErrorType`); the kit
turns that, or Temporal's own timeout and cancellation, into one `FailureKind` plus the
service's reason. Code that reacts to a failure (bulk retry, chaos runs, the invariant
checker) reads the kind, never the reason's text.
"""

from enum import StrEnum

from pydantic import BaseModel
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
)


class ErrorType(StrEnum):
    """`ApplicationError.type` values the activities raise and the kit reacts to."""

    STEP_REFUSED = "StepRefused"  # a business refusal: course full, card declined, ...
    CONTRACT_VIOLATION = "ServiceContractViolation"  # the service rejected our request: a bug
    TRANSIENT_FAULT = "TransientServiceFault"  # timeout, 5xx, 429: retried
    # 401/403: the worker's service token is wrong or revoked. Retried (the service wrote
    # nothing), so the saga waits, visibly, until an operator fixes SERVICE_TOKENS.
    NOT_AUTHORIZED = "ServiceNotAuthorized"


class FailureKind(StrEnum):
    REFUSED = "refused"  # the service definitively refused a step
    DEADLINE = "deadline"  # a step's deadline, or the whole saga's, passed
    CANCELLED = "cancelled"  # an operator cancelled the saga
    CONTRACT_VIOLATION = "contract-violation"  # the service could not accept the request
    COMPENSATION_FAILED = "compensation-failed"  # an undo was rejected: an operator must act


class SagaFailure(BaseModel):
    kind: FailureKind
    step: str | None = None  # the step (or, for compensation-failed, the undo) that failed
    reason: str


# The service's definitive answers to a step; everything else is worth another attempt.
FINAL_ERROR_TYPES = (ErrorType.STEP_REFUSED, ErrorType.CONTRACT_VIOLATION)
# An undo is never refused, only retried; unless the service cannot accept the request at all.
UNDO_FINAL_ERROR_TYPES = (ErrorType.CONTRACT_VIOLATION,)


def application_error(error: BaseException) -> ApplicationError | None:
    cause = error.cause if isinstance(error, ActivityError) else error
    return cause if isinstance(cause, ApplicationError) else None


def is_refusal(error: BaseException) -> bool:
    cause = application_error(error)
    return cause is not None and cause.type == ErrorType.STEP_REFUSED


def is_final(error: BaseException) -> bool:
    """The service's definitive answer: trying again, locally or not, would get the same."""
    cause = application_error(error)
    return cause is not None and (cause.non_retryable or cause.type in FINAL_ERROR_TYPES)


def stops_undo(error: BaseException) -> bool:
    """What an undo's regular activity would not retry either."""
    cause = application_error(error)
    return cause is not None and (cause.non_retryable or cause.type in UNDO_FINAL_ERROR_TYPES)


def kind_of(error: BaseException) -> FailureKind:
    """The kind of a step's failure, from the error its activity ended with."""
    cause = application_error(error)
    if cause is not None and cause.type == ErrorType.STEP_REFUSED:
        return FailureKind.REFUSED
    if cause is not None and cause.type == ErrorType.CONTRACT_VIOLATION:
        return FailureKind.CONTRACT_VIOLATION
    # Anything else stopped being retried because the step's deadline passed.
    return FailureKind.DEADLINE


def reason_of(error: BaseException) -> str:
    """The service's reason, for people: the ledger, the memo, the Temporal UI."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, TimeoutError):
        return f"gave up after the step's deadline ({cause.type.name if cause.type else 'timeout'})"
    if cause is not None:
        message = str(cause.message) if hasattr(cause, "message") else str(cause)
    else:
        message = str(error)
    # Past the deadline Temporal stops retrying and reports the last attempt's error, which
    # alone ("All connection attempts failed") would read like the service's final answer.
    retry_state = error.retry_state if isinstance(error, ActivityError) else None
    if retry_state in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED):
        return f"gave up after the step's deadline; last error: {message}"
    return message
