"""What can go wrong in a saga, as types: the activities' error types and the failure kinds.

An activity says how a call ended with `ApplicationError.type` (one of `ErrorType`); the kit
turns that, or Temporal's own timeout and cancellation, into one `FailureKind` plus the
service's reason (sagas/activity_errors.py reads Temporal's errors; this module imports no
framework, so the choreography and the services can share these types). Code that reacts to a
failure (bulk retry, chaos runs, the invariant checker) reads the kind, never the reason's text.
"""

from enum import StrEnum

from pydantic import BaseModel


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
