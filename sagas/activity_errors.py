"""Reading the error a step's activity ended with: Temporal's exceptions, turned into the kit's
failure types (sagas/failures.py)."""

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
)

from sagas.failures import FINAL_ERROR_TYPES, UNDO_FINAL_ERROR_TYPES, ErrorType, FailureKind


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
