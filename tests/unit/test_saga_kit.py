"""The saga kit's features on a toy saga with mocked activities (tests/support/toy_saga.py),
on the time-skipping test server."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sagas import FailureKind, Outcome, SagaDeadlines, SagaProgress, SagaStatus
from tests.support.temporal import unique_task_queue
from tests.support.toy_saga import MockToyServices, ToyInput, ToySaga

Handle = WorkflowHandle[ToySaga, SagaProgress]


@asynccontextmanager
async def toy_saga(
    env: WorkflowEnvironment, services: MockToyServices, saga: ToyInput | None = None
) -> AsyncIterator[Handle]:
    task_queue = unique_task_queue()
    async with Worker(
        env.client, task_queue=task_queue, workflows=[ToySaga], activities=services.activities()
    ):
        yield await env.client.start_workflow(
            ToySaga.run,
            saga or ToyInput(),
            id=f"toy-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )


async def run_toy(
    env: WorkflowEnvironment, services: MockToyServices, saga: ToyInput | None = None
) -> SagaProgress:
    async with toy_saga(env, services, saga) as handle:
        return await handle.result()


async def wait_for_status(handle: Handle, status: SagaStatus) -> SagaProgress:
    async with asyncio.timeout(30):
        while (progress := await handle.query(ToySaga.status)).status is not status:
            await asyncio.sleep(0.05)
    return progress


async def test_a_saga_without_failures_runs_every_step_in_order_and_undoes_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices()

    progress = await run_toy(time_skipping_env, services)

    assert progress.status is SagaStatus.COMPLETED
    assert services.calls[0] == "a"
    assert set(services.calls[1:3]) == {"b1", "b2"}
    assert services.calls[3:] == ["c", "pivot", "after"]
    assert progress.compensated_steps == []


async def test_a_refused_pivot_undoes_the_steps_before_it_in_reverse_order(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"pivot": 1})

    progress = await run_toy(time_skipping_env, services)

    assert progress.status is SagaStatus.COMPENSATED
    assert progress.failure is not None
    assert (progress.failure.kind, progress.failure.step) == (FailureKind.REFUSED, "pivot")
    undone = [call for call in services.calls if call.startswith("undo_")]
    assert undone[0] == "undo_c"
    assert set(undone[1:3]) == {"undo_b1", "undo_b2"}
    assert undone[3] == "undo_a"
    assert "after" not in services.calls


async def test_an_undo_uses_the_idempotency_key_of_its_step(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"pivot": 1})

    await run_toy(time_skipping_env, services)

    for step in ("a", "b1", "b2", "c"):
        assert services.keys[f"undo_{step}"] == services.keys[step]
        assert services.keys[step].endswith(f":{step}")


async def test_a_refused_step_is_not_undone_but_the_ones_before_it_are(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"c": 1})

    progress = await run_toy(time_skipping_env, services)

    assert progress.failed_step == "c"
    assert "undo_c" not in services.attempts
    assert {"undo_a", "undo_b1", "undo_b2"} <= set(services.calls)


async def test_a_parallel_group_runs_its_steps_concurrently(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """b1 and b2 each wait until the other has started: one after the other, they would
    time out and the saga would compensate."""
    services = MockToyServices(meet={"b1", "b2"})

    progress = await run_toy(time_skipping_env, services)

    assert progress.status is SagaStatus.COMPLETED
    assert (services.attempts["b1"], services.attempts["b2"]) == (1, 1)


async def test_a_parallel_group_is_undone_concurrently_as_a_group(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"pivot": 1}, meet={"undo_b1", "undo_b2"})

    progress = await run_toy(time_skipping_env, services)

    assert progress.status is SagaStatus.COMPENSATED
    assert (services.attempts["undo_b1"], services.attempts["undo_b2"]) == (1, 1)
    assert progress.compensated_steps[-1] == "undo_a"  # after the whole group


async def test_a_conditional_step_whose_condition_fails_is_skipped_and_never_undone(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"pivot": 1})

    progress = await run_toy(time_skipping_env, services, ToyInput(with_c=False))

    assert "c" not in services.attempts
    assert "undo_c" not in services.attempts
    skipped = [entry for entry in progress.ledger if entry.outcome is Outcome.SKIPPED]
    assert [entry.name for entry in skipped] == ["c"]
    assert progress.status is SagaStatus.COMPENSATED


async def test_a_step_after_the_pivot_is_retried_until_it_succeeds_and_never_compensates(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Even definitive refusals: after the point of no return there is no way back."""
    services = MockToyServices(refuse={"after": 3})

    progress = await run_toy(time_skipping_env, services)

    assert progress.status is SagaStatus.COMPLETED
    assert services.attempts["after"] == 4
    assert not [call for call in services.calls if call.startswith("undo_")]
    assert progress.compensated_steps == []


async def test_cancelling_during_a_step_undoes_it_and_what_came_before(
    own_time_skipping_env: WorkflowEnvironment,
) -> None:
    """The running step's undo was registered before it ran: its answer might be lost."""
    services = MockToyServices(block={"c"})
    async with toy_saga(own_time_skipping_env, services) as handle:
        await asyncio.wait_for(services.started["c"].wait(), 30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await handle.query(ToySaga.status)
        services.release.set()

    assert isinstance(failure.value.cause, CancelledError)
    assert progress.status is SagaStatus.COMPENSATED
    assert progress.failure is not None and progress.failure.kind is FailureKind.CANCELLED
    assert progress.compensated_steps[0] == "undo_c"
    assert progress.compensated_steps[-1] == "undo_a"


async def test_a_second_cancel_during_the_unwind_still_completes_every_undo(
    own_time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(block={"c", "undo_b1"})
    async with toy_saga(own_time_skipping_env, services) as handle:
        await asyncio.wait_for(services.started["c"].wait(), 30)
        await handle.cancel()
        await asyncio.wait_for(services.started["undo_b1"].wait(), 30)
        await handle.cancel()  # again, while the unwind waits for undo_b1
        services.release.set()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await handle.query(ToySaga.status)

    assert progress.status is SagaStatus.COMPENSATED
    assert set(progress.compensated_steps) == {"undo_a", "undo_b1", "undo_b2", "undo_c"}


async def test_the_saga_deadline_cancels_the_running_step_and_compensates(
    own_time_skipping_env: WorkflowEnvironment,
) -> None:
    """A timer, not Temporal's execution timeout (which would end the run with no undo)."""
    services = MockToyServices(block={"b2"})
    deadlines = SagaDeadlines(saga_seconds=3, step_seconds=600, local_attempt_seconds=1)

    async with toy_saga(own_time_skipping_env, services, ToyInput(deadlines=deadlines)) as handle:
        progress = await handle.result()
        services.release.set()

    assert progress.status is SagaStatus.COMPENSATED
    assert progress.failure is not None
    assert progress.failure.kind is FailureKind.DEADLINE
    assert "deadline of 3 s" in progress.failure.reason
    assert {"undo_a", "undo_b1", "undo_b2"} <= set(progress.compensated_steps)
    assert "c" not in services.attempts


async def test_a_rejected_undo_waits_as_compensation_failed_until_an_operator_resumes_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = MockToyServices(refuse={"pivot": 1}, reject={"undo_b2"})
    async with toy_saga(time_skipping_env, services) as handle:
        waiting = await wait_for_status(handle, SagaStatus.COMPENSATION_FAILED)
        description = await handle.describe()
        services.fix("undo_b2")
        await handle.execute_update(ToySaga.resume_compensation)
        progress = await handle.result()

    assert description.status is not None and description.status.name == "RUNNING"
    assert waiting.undo_failure is not None
    assert waiting.undo_failure.kind is FailureKind.COMPENSATION_FAILED
    assert waiting.undo_failure.step == "undo_b2"
    assert "undo_a" not in waiting.compensated_steps  # the unwind stopped at the group
    assert progress.status is SagaStatus.COMPENSATED
    assert services.attempts["undo_b2"] == 2  # rejected on its local try, then resumed
    assert services.attempts["undo_b1"] == 1  # done once, not again on resume
    assert progress.compensated_steps[-1] == "undo_a"


def test_a_local_try_lasts_the_local_attempt_but_never_longer_than_a_regular_attempt() -> None:
    deadlines = SagaDeadlines(local_attempt_seconds=5, attempt_seconds=15)

    assert deadlines.local_try_seconds() == 5
    assert deadlines.local_try_seconds(attempt_seconds=2) == 2  # the step's own, shorter
    assert SagaDeadlines(local_attempt_seconds=5, attempt_seconds=2).local_try_seconds() == 2
