"""Waiting for a choreographed saga's end: woken by the tracker in this process, rechecked for
an end another replica's tracker recorded, and given up after the wait."""

import asyncio

import pytest

from choreography import ends
from choreography.ends import SagaEnds


class Tracker:
    """Stands in for the tracker's table: the saga's end once `end` is set (a mock)."""

    def __init__(self) -> None:
        self.end: str | None = None
        self.reads = 0

    def read(self) -> str | None:
        self.reads += 1
        return self.end


async def test_a_waiter_is_woken_by_the_end_and_reads_it_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ends, "RECHECK_SECONDS", 60.0)  # only the wake can end this wait
    saga_ends, tracker = SagaEnds(), Tracker()
    waiting = asyncio.create_task(saga_ends.end_within("stu-1", 60, tracker.read))
    while tracker.reads == 0:
        await asyncio.sleep(0)

    tracker.end = "COMPLETED"
    saga_ends.ended("stu-1")

    assert await asyncio.wait_for(waiting, 5) == "COMPLETED"
    assert tracker.reads == 2


async def test_an_end_already_recorded_is_answered_without_waiting() -> None:
    saga_ends, tracker = SagaEnds(), Tracker()
    tracker.end = "COMPENSATED"

    assert await asyncio.wait_for(saga_ends.end_within("stu-1", 60, tracker.read), 5) == (
        "COMPENSATED"
    )
    assert tracker.reads == 1


async def test_an_end_another_replica_recorded_is_found_by_the_recheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ends, "RECHECK_SECONDS", 0.01)
    saga_ends, tracker = SagaEnds(), Tracker()
    waiting = asyncio.create_task(saga_ends.end_within("stu-1", 60, tracker.read))
    while tracker.reads == 0:
        await asyncio.sleep(0)

    tracker.end = "COMPLETED"  # and no wake: this process's tracker never saw the event

    assert await asyncio.wait_for(waiting, 5) == "COMPLETED"


async def test_a_saga_still_running_after_the_wait_answers_none_and_leaves_no_waiter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ends, "RECHECK_SECONDS", 0.01)
    saga_ends, tracker = SagaEnds(), Tracker()

    assert await saga_ends.end_within("stu-1", 0.05, tracker.read) is None
    assert tracker.reads >= 2
    assert saga_ends._waiters == {}


async def test_the_end_of_one_saga_does_not_wake_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ends, "RECHECK_SECONDS", 60.0)
    saga_ends, tracker = SagaEnds(), Tracker()
    waiting = asyncio.create_task(saga_ends.end_within("stu-1", 60, tracker.read))
    while tracker.reads == 0:
        await asyncio.sleep(0)

    saga_ends.ended("stu-2")
    await asyncio.sleep(0.05)

    assert not waiting.done()
    assert tracker.reads == 1
    waiting.cancel()
