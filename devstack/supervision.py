"""What `make up` does when one of its processes dies: restart it, as supervisord, systemd's
`Restart=` or docker compose's `restart:` would, and stop the stack only when it crash-loops.

- A process that exits while the stack runs (killed, crashed, or exited by itself, even with
  status 0: none of them is meant to end) is started again with the same command and
  environment, after a backoff: 0.5 s, doubling up to 10 s. It then goes through the same
  readiness probe as at startup, and the log says so:
      [devstack] worker was killed by SIGKILL; restarting (attempt 2) in 0.5s
      [devstack] worker ready after 2.1s
- Readiness order is kept: processes that are down are restarted in start order, each once
  the one before is ready, so the worker is only started again once Temporal, if it died too,
  is back. If a dependency dies while a process waits to be ready, the dependency is restarted
  first.
- A process that exits `crash_loop_exits` times (5) within `crash_loop_seconds` (60) is not
  restarted again: `run` raises CrashLoop with its last lines, and `make up` stops the stack.
  The window slides, so the backoff starts again from 0.5 s once a process has stayed up
  that long.
- A process the stack's owner took down with `Stack.kill` (tests, chaos runs) is theirs to
  restart: the supervisor leaves it down.

A process that cannot start at all when the stack starts is not restarted: the stack refuses
to start, with its last lines, as before.
"""

import signal
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from devstack.config import DevstackSettings
from devstack.processes import ManagedProcess
from devstack.stack import (
    DependencyDown,
    Stack,
    StackError,
    StopRequested,
    failure_report,
    how_it_ended,
)

POLL_SECONDS = 0.2


class CrashLoop(StackError):
    """A process kept exiting; the message says which, how often, and its last lines."""


@dataclass(frozen=True)
class RestartPolicy:
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0
    crash_loop_exits: int = 5
    crash_loop_seconds: float = 60.0

    @classmethod
    def of(cls, settings: DevstackSettings) -> "RestartPolicy":
        return cls(
            backoff_seconds=settings.restart_backoff_seconds,
            max_backoff_seconds=settings.restart_backoff_max_seconds,
            crash_loop_exits=settings.crash_loop_exits,
            crash_loop_seconds=settings.crash_loop_seconds,
        )

    def delay(self, recent_exits: int) -> float:
        """The wait before restarting a process that has exited `recent_exits` times lately."""
        return min(self.backoff_seconds * 2 ** max(recent_exits - 1, 0), self.max_backoff_seconds)

    def gives_up(self, recent_exits: int) -> bool:
        return recent_exits >= self.crash_loop_exits


class ExitHistory:
    """When each process exited, within the policy's sliding window."""

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._exits: defaultdict[str, deque[float]] = defaultdict(deque)

    def record(self, name: str, now: float) -> int:
        """Note an exit of `name` at `now`; returns its exits within the window, this one too."""
        exits = self._exits[name]
        exits.append(now)
        while exits and exits[0] <= now - self._window:
            exits.popleft()
        return len(exits)


class Supervisor:
    """Restarts the stack's processes as they exit, until a stop (of the stack or of the
    supervisor) is requested. `make up` runs it in its main thread, tests in one of their own."""

    def __init__(
        self,
        stack: Stack,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stack = stack
        self._policy = policy or RestartPolicy.of(stack.settings)
        self._clock = clock
        self._history = ExitHistory(self._policy.crash_loop_seconds)
        self._stop = threading.Event()

    def run(self) -> None:
        """Return once a stop is requested; raise CrashLoop when a process crash-loops."""
        while not self._stopping():
            exited = self._stack.exited()
            if exited:
                self._recover(exited[0])  # the first in start order: readiness order holds
            else:
                self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        """Make `run` return (from another thread); the stack keeps running."""
        self._stop.set()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._stack.stop_requested

    def _recover(self, process: ManagedProcess) -> None:
        how = how_it_ended(process)
        exits = self._history.record(process.name, self._clock())
        if self._policy.gives_up(exits):
            window = self._policy.crash_loop_seconds
            raise CrashLoop(
                failure_report(
                    process,
                    f"{how}: {exits} exits in {window:g}s, not restarting it (SAGA_CRASH_LOOP_EXITS"
                    f"={self._policy.crash_loop_exits}, SAGA_CRASH_LOOP_SECONDS={window:g})",
                )
            )
        delay = self._policy.delay(exits)
        self._stack.say(f"{process.name} {how}; restarting (attempt {exits + 1}) in {delay:g}s")
        if not self._sleep(delay):
            return
        try:
            self._stack.restart(process.name)
        except StopRequested:
            return
        except DependencyDown as down:
            self._stack.say(f"{process.name} started; {down} exited meanwhile, restarting it first")
        except StackError as error:
            # It exited again before it was ready (the next pass counts that exit), or it was
            # not ready in time: then it is killed, and counts as an exit too.
            restarted = self._stack.process(process.name)
            if restarted.running:
                self._stack.say(f"{error}\nKilling it.")
                restarted.send(signal.SIGKILL)
                restarted.wait(self._stack.settings.stop_timeout_seconds)

    def _sleep(self, seconds: float) -> bool:
        """Wait `seconds`; False if a stop was requested meanwhile."""
        deadline = self._clock() + seconds
        while not self._stopping():
            remaining = deadline - self._clock()
            if remaining <= 0:
                return True
            self._stop.wait(min(remaining, POLL_SECONDS))
        return False
