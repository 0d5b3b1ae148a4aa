"""A saga declared as steps: each with its activity, its input, its undo and its kind.

Step kinds follow the compensatable / pivot / retriable model:

- a **compensatable** step comes before the pivot; its undo (if it wrote anything) is declared
  beside it and runs, in reverse order, when a later step fails;
- the **pivot** is the point of no return: once it has started it runs to a definitive answer
  (a cancel or the saga's deadline no longer interrupts it); if it is refused, the steps before
  it are undone; once it succeeded, nothing before it is undone;
- **retriable** steps come after the pivot and are retried until they succeed; they never
  trigger compensation.

A step's name is its activity's name, the suffix of its idempotency key, its fault-injection
operation and its label in the ledger and the Temporal UI.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sagas.policy import StepPolicy, UndoPolicy

InputT = TypeVar("InputT")


class StepKind(StrEnum):
    COMPENSATABLE = "compensatable"
    PIVOT = "pivot"
    RETRIABLE = "retriable"


@dataclass(frozen=True)
class StepCall(Generic[InputT]):
    """What a step's builders see: the saga's input, the results of the steps done so far
    (by step name), and the step's idempotency key."""

    saga: InputT
    results: Mapping[str, Any]
    key: str

    def result(self, step: str) -> Any:
        return self.results[step]


Builder = Callable[[StepCall[InputT]], Any]
Summary = Callable[[StepCall[InputT]], str]


@dataclass(frozen=True)
class Undo(Generic[InputT]):
    """The undo of a step, built (like its input) before the step runs: the step may succeed
    on the service while its answer is lost, and must still be undone then."""

    activity: str
    input: Builder[InputT]
    summary: Summary[InputT]
    policy: UndoPolicy = field(default_factory=UndoPolicy)


@dataclass(frozen=True)
class Step(Generic[InputT]):
    name: str
    input: Builder[InputT]
    summary: Summary[InputT]
    result_type: type | None = None
    kind: StepKind = StepKind.COMPENSATABLE
    undo: Undo[InputT] | None = None
    # A conditional step runs only when this holds for the saga's input and earlier results.
    when: Callable[[StepCall[InputT]], bool] | None = None
    policy: StepPolicy = field(default_factory=StepPolicy)
    # Copies what the saga type wants to show of the result into its progress record.
    record: Callable[[Any, Any], None] | None = None


@dataclass(frozen=True)
class Parallel(Generic[InputT]):
    """Compensatable steps that run concurrently and, when the saga unwinds, are undone
    concurrently, as a group, in their place in the reverse order."""

    steps: tuple[Step[InputT], ...]


@dataclass(frozen=True)
class Patches:
    """For a saga type with runs recorded before a kit feature existed: the `workflow.patched`
    id each feature is gated by, so those runs replay without it. A new saga type has none:
    every feature is on for all its runs."""

    local_steps: str | None = None
    local_undos: str | None = None
    failure_memo: str | None = None
    compensation_failed_waits: str | None = None


@dataclass(frozen=True)
class SagaDefinition(Generic[InputT]):
    saga_type: str  # e.g. "student-onboarding": the SagaType search attribute
    steps: tuple[Step[InputT] | Parallel[InputT], ...]
    patches: Patches = field(default_factory=Patches)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError(f"saga {self.saga_type!r}: " + "; ".join(problems))

    def all_steps(self) -> Iterator[Step[InputT]]:
        for item in self.steps:
            if isinstance(item, Parallel):
                yield from item.steps
            else:
                yield item

    def undo_names(self) -> frozenset[str]:
        return frozenset(step.undo.activity for step in self.all_steps() if step.undo)


def _problems(definition: SagaDefinition[Any]) -> Iterator[str]:
    names = [step.name for step in definition.all_steps()]
    if len(names) != len(set(names)):
        yield "step names must be unique (each is an activity name and a key suffix)"
    kinds = [step.kind for step in definition.all_steps()]
    if kinds.count(StepKind.PIVOT) > 1:
        yield "a saga has at most one pivot"
    seen_pivot = False
    for item in definition.steps:
        group = item.steps if isinstance(item, Parallel) else (item,)
        for step in group:
            if step.kind is not StepKind.COMPENSATABLE and step.undo is not None:
                yield f"{step.name}: only a compensatable step has an undo"
            if step.kind is StepKind.COMPENSATABLE and seen_pivot:
                yield f"{step.name}: a compensatable step cannot come after the pivot"
            if step.kind is StepKind.RETRIABLE and not seen_pivot:
                yield f"{step.name}: a retriable step comes after the pivot"
            if isinstance(item, Parallel) and step.kind is not StepKind.COMPENSATABLE:
                yield f"{step.name}: a parallel group holds compensatable steps only"
        if any(step.kind is StepKind.PIVOT for step in group):
            seen_pivot = True
