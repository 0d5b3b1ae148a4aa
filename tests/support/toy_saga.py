"""A toy saga on the kit, and mock activities for it: each kit feature in a few lines.

    a (undo_a) -> [b1 (undo_b1) | b2 (undo_b2)] -> c if asked (undo_c) -> pivot -> after

Every activity takes and returns a `ToyCall`; `MockToyServices` records the calls and
refuses, rejects, blocks or meets in a barrier where a test tells it to.
"""

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from sagas import (
    ErrorType,
    Parallel,
    SagaDeadlines,
    SagaDefinition,
    SagaProgress,
    Step,
    StepCall,
    StepKind,
    Undo,
)
from sagas.runner import SagaRunner

FORWARD = ("a", "b1", "b2", "c", "pivot", "after")
UNDOS = ("undo_a", "undo_b1", "undo_b2", "undo_c")


class ToyInput(BaseModel):
    with_c: bool = True
    deadlines: SagaDeadlines = SagaDeadlines(
        step_seconds=30, attempt_seconds=5, max_retry_interval_seconds=2, local_attempt_seconds=1
    )


class ToyCall(BaseModel):
    key: str


def _call(call: StepCall[ToyInput]) -> ToyCall:
    return ToyCall(key=call.key)


def _step(name: str, kind: StepKind = StepKind.COMPENSATABLE, **options: Any) -> Step[ToyInput]:
    undo = Undo[ToyInput](f"undo_{name}", input=_call, summary=lambda _: f"undo {name}")
    return Step(
        name,
        input=_call,
        result_type=ToyCall,
        summary=lambda _: f"do {name}",
        kind=kind,
        undo=undo if kind is StepKind.COMPENSATABLE else None,
        **options,
    )


TOY = SagaDefinition[ToyInput](
    saga_type="toy",
    steps=(
        _step("a"),
        Parallel((_step("b1"), _step("b2"))),
        _step("c", when=lambda call: call.saga.with_c),
        _step("pivot", StepKind.PIVOT),
        _step("after", StepKind.RETRIABLE),
    ),
)


@workflow.defn(sandboxed=False)
class ToySaga:
    def __init__(self) -> None:
        self._saga = SagaRunner[ToyInput, SagaProgress](TOY)

    @workflow.query
    def status(self) -> SagaProgress:
        return self._saga.progress

    @workflow.update
    def resume_compensation(self) -> SagaProgress:
        return self._saga.resume_compensation()

    @resume_compensation.validator
    def _resumable(self) -> None:
        self._saga.check_resumable()

    @workflow.run
    async def run(self, saga: ToyInput) -> SagaProgress:
        return await self._saga.run(saga, SagaProgress(saga_id="toy"), saga.deadlines)


class MockToyServices:
    """Mock activities for the toy saga."""

    def __init__(
        self,
        refuse: dict[str, int] | None = None,
        reject: set[str] | None = None,
        block: set[str] | None = None,
        meet: set[str] | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.keys: dict[str, str] = {}
        self._refuse = refuse or {}  # name -> how many attempts are refused
        self._reject = reject or set()  # undos whose requests the service cannot accept
        self._block = block or set()
        self._meet = meet or set()  # activities that wait until all of them have started
        self.started: dict[str, asyncio.Event] = {name: asyncio.Event() for name in FORWARD + UNDOS}
        self.release = asyncio.Event()

    def fix(self, name: str) -> None:
        self._reject.discard(name)

    async def _perform(self, name: str, call: ToyCall) -> ToyCall:
        self.attempts[name] += 1
        self.keys[name] = call.key
        self.started[name].set()
        if name in self._meet:
            # Each waits for the others: run one after the other, they would time out.
            await asyncio.wait_for(
                asyncio.gather(*(self.started[other].wait() for other in self._meet)), 10
            )
        if name in self._block:
            await self.release.wait()
        if self.attempts[name] <= self._refuse.get(name, 0):
            raise ApplicationError(
                f"{name} refused", type=ErrorType.STEP_REFUSED, non_retryable=True
            )
        if name in self._reject:
            raise ApplicationError(
                f"{name}: 400 malformed", type=ErrorType.CONTRACT_VIOLATION, non_retryable=True
            )
        self.calls.append(name)
        return call

    def activities(self) -> list[Callable[..., Any]]:
        return [self._activity(name) for name in FORWARD + UNDOS]

    def _activity(self, name: str) -> Callable[..., Any]:
        @activity.defn(name=name)
        async def perform(call: ToyCall) -> ToyCall:
            return await self._perform(name, call)

        return perform
