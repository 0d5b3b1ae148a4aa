"""The course transfer saga on the dev stack's real processes (PostgreSQL in CI): a lost answer
on the partial refund is found again by its key, a worker killed mid-transfer resumes it, a
cancel during an onboarding's unwind still completes every undo; money conserved after each."""

import asyncio
from collections.abc import Awaitable

from devstack.system import System
from sagas import SagaStatus
from tests.reliability.conftest import FAST, assert_invariants_hold
from workflows import registry

CS101, MATH201 = 120_000, 95_000


async def at_least(count: Awaitable[int], minimum: int) -> bool:
    return await count >= minimum


async def start_transfer(system: System, student_id: str, from_course: str, to_course: str) -> str:
    """As POST /transfers does it (its own lookup is tested over HTTP in tests/e2e)."""
    return await system.start_transfer(student_id, from_course, to_course, FAST)


async def enrolled(system: System, course_id: str) -> str:
    student_id = await system.start_saga(course_id=course_id, deadlines=FAST)
    assert (await system.wait_for_terminal(student_id)).status == SagaStatus.COMPLETED
    return student_id


async def charges_of(system: System, student_id: str) -> list[dict[str, object]]:
    charges: list[dict[str, object]] = (
        await system.billing.get("/charges", params={"student_id": student_id})
    ).json()
    return charges


async def test_a_partial_refund_whose_answer_is_lost_is_refunded_once(system: System) -> None:
    billing = system.faults["billing"]
    student_id = await enrolled(system, "CS101")
    await billing.install(operation="refund_part", kind="error_after_commit", count=1)

    saga_id = await start_transfer(system, student_id, "CS101", "MATH201")
    state = await system.wait_for_terminal(saga_id)

    assert state.status == SagaStatus.COMPLETED
    assert await billing.hits("refund_part") == 1
    [charge] = await charges_of(system, student_id)
    assert charge["refunded_cents"] == CS101 - MATH201
    assert len(charge["refunds"]) == 1  # type: ignore[arg-type]
    await assert_invariants_hold(system)


async def test_a_worker_killed_mid_transfer_resumes_it_without_doing_a_step_twice(
    system: System,
) -> None:
    enrollment = system.faults["enrollment"]
    student_id = await enrolled(system, "MATH201")
    await enrollment.install(operation="withdraw", kind="latency", latency_ms=3000, count=1)

    saga_id = await start_transfer(system, student_id, "MATH201", "CS101")
    await system.wait_for(lambda: at_least(enrollment.hits("withdraw"), 1), "the withdrawal")
    await system.kill("worker")
    await system.restart("worker")
    state = await system.wait_for_terminal(saga_id)

    assert state.status == SagaStatus.COMPLETED
    amounts = sorted(
        int(str(charge["amount_cents"])) for charge in await charges_of(system, student_id)
    )
    assert amounts == [CS101 - MATH201, MATH201]  # the difference charged once
    enrollments = (
        await system.enrollment.get("/enrollments", params={"student_id": student_id})
    ).json()
    assert {row["course_id"]: row["status"] for row in enrollments} == {
        "MATH201": "WITHDRAWN",
        "CS101": "CONFIRMED",
    }
    await assert_invariants_hold(system)


async def test_a_cancel_during_an_onboarding_unwind_still_completes_every_undo(
    system: System,
) -> None:
    """The confirmation is refused, so the saga refunds, then cancels; it is cancelled while
    the refund is held by injected latency, twice. Every undo still runs to its end."""
    billing, enrollment = system.faults["billing"], system.faults["enrollment"]
    await billing.install(operation="refund", kind="latency", latency_ms=2000, count=1)
    await enrollment.install(operation="confirm", kind="error_before_commit", count=1000)
    deadlines = FAST.model_copy(update={"step_seconds": 2})
    student_id = await system.start_saga(deadlines=deadlines)
    await system.wait_for(lambda: at_least(billing.hits("refund"), 1), "the refund to start")

    handle = system.temporal.get_workflow_handle(registry.ONBOARDING.workflow_id(student_id))
    await handle.cancel()
    await asyncio.sleep(0.5)
    await handle.cancel()
    await enrollment.clear()
    state = await system.wait_for_terminal(student_id)

    assert state.status == SagaStatus.COMPENSATED
    assert state.compensated_steps == ["refund_charge", "cancel_enrollment"]
    [charge] = await charges_of(system, student_id)
    assert charge["status"] == "REFUNDED"
    await assert_invariants_hold(system)
