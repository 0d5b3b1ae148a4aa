"""How long and how often the kit tries a step or an undo.

`SagaDeadlines` travels in each saga's input (so a run keeps the deadlines it started with);
`StepPolicy` and `UndoPolicy` are declared with a step and override it for that step only.
"""

from dataclasses import dataclass

from pydantic import BaseModel, Field


class SagaDeadlines(BaseModel):
    """How long the saga keeps retrying a step before giving up and compensating.
    Compensations have no deadline: they are retried until they succeed."""

    step_seconds: float = Field(default=120.0, gt=0)
    attempt_seconds: float = Field(default=15.0, gt=0)
    max_retry_interval_seconds: float = Field(default=10.0, gt=0)
    max_compensation_retry_interval_seconds: float = Field(default=30.0, gt=0)
    # A step's first try runs as a local activity for at most this long (and never longer
    # than an attempt); a step not settled by then goes on as a regular activity.
    local_attempt_seconds: float = Field(default=5.0, gt=0)
    # The whole saga's deadline, a timer: when it passes before the pivot, the running step
    # is cancelled and the saga compensates. None: no such deadline (no timer is started).
    saga_seconds: float | None = Field(default=None, gt=0)

    def local_try_seconds(self, attempt_seconds: float | None = None) -> float:
        """A local first try's start-to-close: `local_attempt_seconds`, never longer than a
        regular attempt (the step's or undo's own `attempt_seconds`, else this saga's)."""
        return min(self.local_attempt_seconds, attempt_seconds or self.attempt_seconds)


@dataclass(frozen=True)
class StepPolicy:
    """A step's own settings; None takes the saga's `SagaDeadlines`."""

    # One try as a local activity first (inside the workflow task: no activity task is
    # matched or recorded), then the step as a regular activity if that try did not settle it.
    local_first: bool = True
    attempt_seconds: float | None = None
    step_seconds: float | None = None
    max_retry_interval_seconds: float | None = None


@dataclass(frozen=True)
class UndoPolicy:
    """An undo's own retry budget, independent of its step's: by default it is retried until
    it succeeds, since a saga must not stay half-done."""

    local_first: bool = True
    attempt_seconds: float | None = None
    max_retry_interval_seconds: float | None = None
    maximum_attempts: int = 0  # 0: unlimited; when used up, the saga is COMPENSATION_FAILED
