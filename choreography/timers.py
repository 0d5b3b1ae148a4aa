"""Jobs a service runs on a clock rather than on an event (the reservation expiry), with the
same guarantee as a reaction: the job's effect and the events it emits commit together (through
the outbox), so a crash between the two loses or repeats nothing."""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from choreography import outbox
from choreography.events import Event

logger = logging.getLogger(__name__)

Job = Callable[[Session], Sequence[Event]]
"""What a service does on each tick: call a use case, return the events to emit."""


@dataclass(frozen=True)
class Timer:
    name: str
    every_seconds: float
    job: Job


def run_job(engine: Engine, job: Job) -> int:
    """One run of the job in one transaction (the use cases' commits are savepoints within it,
    as in choreography.inbox); returns how many events it staged."""
    with engine.connect() as connection, connection.begin():
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        emitted = job(session)
        for event in emitted:
            outbox.stage(session, event)
        session.commit()
        session.close()
    return len(emitted)


class TimerLoop:
    """Runs one timer until stopped; `on_emitted` (the relay's wake) after a run that emitted."""

    def __init__(self, engine: Engine, timer: Timer, on_emitted: Callable[[], None]) -> None:
        self._engine = engine
        self._timer = timer
        self._on_emitted = on_emitted
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"timer-{self._timer.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._timer.every_seconds)
            emitted = 1
            while emitted:  # a backlog (after an outage) is worked off batch after batch
                try:
                    emitted = await asyncio.to_thread(run_job, self._engine, self._timer.job)
                except Exception as error:  # database busy or down: the next tick tries again
                    logger.warning("timer %s: %r", self._timer.name, error)
                    break
                if emitted:
                    logger.info("timer %s: %d event(s) emitted", self._timer.name, emitted)
                    self._on_emitted()
