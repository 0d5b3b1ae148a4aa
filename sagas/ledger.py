"""The saga's progress ledger: status, current step, each step and undo with its outcome.

One typed record feeds everything that shows a saga: the workflow's `status` query and result,
its memo and search attributes, and the story the Temporal UI shows as the workflow's current
details. Saga types extend `SagaProgress` with their own fields (ids of what they created).
"""

from enum import StrEnum

from pydantic import BaseModel

from sagas.failures import FailureKind, SagaFailure


class SagaStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    # An undo was rejected by its service: the saga waits, open, for an operator to fix the
    # cause and resume the unwind (the `resume_compensation` update).
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    # The end state of that case for runs recorded before COMPENSATION_FAILED existed.
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.FAILED})


class Role(StrEnum):
    STEP = "step"
    UNDO = "undo"


class Outcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # a conditional step whose condition did not hold
    RETRYING = "retrying"  # a retriable step waiting to try again after a refusal


class LedgerEntry(BaseModel):
    name: str  # the step's (or undo's) name, which is its activity's name
    role: Role
    summary: str
    outcome: Outcome
    undoes: str | None = None  # for an undo: the step it undoes
    reason: str | None = None  # why it failed, or why it is retrying


class SagaProgress(BaseModel):
    """The live status of a saga, answered by its `status` query and returned as its result."""

    saga_id: str | None = None
    saga_type: str | None = None
    status: SagaStatus = SagaStatus.RUNNING
    current_step: str | None = None
    completed_steps: list[str] = []
    compensated_steps: list[str] = []
    failed_step: str | None = None
    failure_reason: str | None = None
    failure: SagaFailure | None = None  # why the saga compensated
    undo_failure: SagaFailure | None = None  # while COMPENSATION_FAILED: the rejected undo
    ledger: list[LedgerEntry] = []

    @property
    def failure_kind(self) -> FailureKind | None:
        return self.failure.kind if self.failure else None


OUTCOME_MARKS = {
    Outcome.RUNNING: "…",
    Outcome.SUCCEEDED: "✓",
    Outcome.FAILED: "✗",
    Outcome.SKIPPED: "○",
    Outcome.RETRYING: "↻",
}


def headline(progress: SagaProgress) -> str:
    """One line: the saga's type and outcome, with the failed step and its kind."""
    line = f"{progress.saga_type or 'saga'}: {progress.status}"
    if progress.failure is not None:
        at = f" at {progress.failure.step}" if progress.failure.step else ""
        line += f" ({progress.failure.kind}{at})"
    return line


def story(progress: SagaProgress) -> str:
    """The saga told in Markdown, for the Temporal UI's current details. Built from names,
    summaries and the services' reasons only: no personal data goes into it."""
    lines = [f"**{headline(progress)}**", ""]
    if progress.failure is not None:
        lines += [f"Reason: {progress.failure.reason}", ""]
    if progress.undo_failure is not None:
        lines += [
            f"Undo {progress.undo_failure.step} was rejected: {progress.undo_failure.reason}",
            "Fix the cause, then resume the unwind (saga resume-compensation).",
            "",
        ]
    for entry in progress.ledger:
        reason = f": {entry.reason}" if entry.reason else ""
        lines.append(f"- {OUTCOME_MARKS[entry.outcome]} {entry.summary} ({entry.outcome}){reason}")
    return "\n".join(lines)
