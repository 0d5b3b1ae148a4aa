"""Waking, in the API's process, the requests that wait for a choreographed saga's end
(`POST /students` with `Prefer: wait=N`).

The tracker's consumer runs in the API; when an event it records ends a saga, it wakes that
saga's waiters, so a waiting request reads the tracker once at the start and once at the end
instead of polling it. The tracker's table stays the truth: a waiter rereads it after each wake
and every RECHECK_SECONDS, because with several API replicas the event that ends a saga may be
consumed by another replica's tracker, whose wake never reaches this process.
"""

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

RECHECK_SECONDS = 1.0
T = TypeVar("T")


class SagaEnds:
    """Per saga id, the futures of the requests waiting for its end; used on one event loop."""

    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)

    def ended(self, saga_id: str) -> None:
        for waiter in self._waiters.pop(saga_id, set()):
            if not waiter.done():
                waiter.set_result(None)

    @contextmanager
    def watching(self, saga_id: str) -> Iterator[asyncio.Future[None]]:
        """A future done when the saga ends, registered before the caller reads the state, so
        that an end between the read and the wait is not missed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[saga_id].add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(saga_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[saga_id]

    async def end_within(
        self, saga_id: str, seconds: float, read_end: Callable[[], T | None]
    ) -> T | None:
        """What `read_end` (a blocking read of the tracker, run in a thread) returns once it is
        not None, within `seconds`; None if the saga has not ended by then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            with self.watching(saga_id) as ended:
                end = await asyncio.to_thread(read_end)
                remaining = deadline - loop.time()
                if end is not None or remaining <= 0:
                    return end
                with suppress(TimeoutError):  # a recheck: the end may be another replica's
                    await asyncio.wait_for(ended, min(remaining, RECHECK_SECONDS))
