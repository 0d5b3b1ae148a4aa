"""Faults on a consumer's deliveries, to show what the broker and the inbox do about them. Not
mocks: the events, the broker and the databases stay real; only the point where a consumer fails
is chosen instead of left to luck. Two ways to arm them:

`DeliveryFaults`, passed to a process's create_app by a test (or a demo), by consumer and event:

- `fail_next`: the next N deliveries fail before any effect (a transient fault): redelivered.
- `crash_after_effect`: the next N deliveries commit their effect, then fail before the ack (as a
  process dying there would): redelivered, and the inbox must stop the effect from repeating.
- `before`: run a hook first (e.g. to interleave a conflicting change).

`CommandFaults`: a service's own `/_faults` rules (common/faults.py), which name its commands
(reserve, charge, ...), drawn once per delivery of an event whose reaction performs the command,
so that one rule acts on the command whether the orchestrated saga called it over HTTP or the
choreographed one's event invoked it. Each kind has its broker-side twin:

- `error_before_commit`: the delivery fails before any effect: redelivered with the broker's
  backoff, counted against the retry budget, dead-lettered once that is spent, as any failure.
- `error_after_commit`: the effect commits (events staged), then the delivery fails before the
  ack, as `crash_after_effect`: redelivered, and the inbox stops the effect repeating.
  (`drop_connection` has no twin: the lost answer is the ack.)
- `latency`: wait `latency_ms`, then handle (a wait past the broker's ack timeout, 30 s on NATS,
  gets the event redelivered meanwhile, as for any slow consumer).
- `crash`: exit the process at once (`os._exit`), before the effect, as the HTTP middleware does.
"""

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from choreography.events import Event
from common.faults import CRASH_EXIT_CODE, FaultKind, FaultStore, Operations

log = logging.getLogger(__name__)

Hook = Callable[[Event], Awaitable[None]]


class InjectedFault(Exception):
    pass


@dataclass
class _Rule:
    consumer: str
    event_type: str
    fail_before: int = 0
    fail_after: int = 0
    hook: Hook | None = None


@dataclass
class DeliveryFaults:
    rules: list[_Rule] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    handled: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, consumer: str, event_type: str, times: int) -> None:
        with self.lock:
            self.rules.append(_Rule(consumer, event_type, fail_before=times))

    def crash_after_effect(self, consumer: str, event_type: str, times: int = 1) -> None:
        with self.lock:
            self.rules.append(_Rule(consumer, event_type, fail_after=times))

    def before(self, consumer: str, event_type: str, hook: Hook) -> None:
        with self.lock:
            self.rules.append(_Rule(consumer, event_type, hook=hook))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.seen.clear()
            self.handled.clear()

    def count(self, consumer: str, event_type: str) -> int:
        """Deliveries of this type to this consumer since the last clear()."""
        with self.lock:
            return self.seen[f"{consumer}:{event_type}"]

    def handled_count(self, consumer: str, event_type: str) -> int:
        """Deliveries whose handling finished (effect applied, or skipped as a duplicate)."""
        with self.lock:
            return self.handled[f"{consumer}:{event_type}"]

    async def on_delivery(self, consumer: str, event: Event) -> None:
        hook = None
        with self.lock:
            self.seen[f"{consumer}:{event.type}"] += 1
            for rule in self._rules_for(consumer, event):
                if rule.fail_before > 0:
                    rule.fail_before -= 1
                    raise InjectedFault(f"injected failure before {consumer} handled {event.type}")
                hook = hook or rule.hook
        if hook is not None:
            await hook(event)

    def after_effect(self, consumer: str, event: Event) -> None:
        with self.lock:
            self.handled[f"{consumer}:{event.type}"] += 1
            for rule in self._rules_for(consumer, event):
                if rule.fail_after > 0:
                    rule.fail_after -= 1
                    raise InjectedFault(f"injected crash after {consumer} handled {event.type}")

    def _rules_for(self, consumer: str, event: Event) -> list[_Rule]:
        return [r for r in self.rules if (r.consumer, r.event_type) == (consumer, event.type)]


Effect = Callable[[], Awaitable[None]]
"""A delivery's handling: the reaction through the inbox, committed when it returns."""


class CommandFaults:
    """A service's /_faults rules at its consumer; `operations` (the service's FAULTY_OPERATIONS)
    says which command each event's reaction performs. `exit_process` ends the process for a
    crash rule (os._exit; unit tests pass a mock)."""

    def __init__(
        self,
        store: FaultStore,
        operations: Operations,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self._store = store
        self._exit_process = exit_process
        self._operation_of: dict[type, str] = {}
        for name, operation in operations.items():
            for event_class in operation.reactions:
                if event_class in self._operation_of:
                    # One delivery draws once: from which command's rules would be a guess.
                    raise ValueError(
                        f"{event_class.__name__} performs both "
                        f"{self._operation_of[event_class]} and {name}"
                    )
                self._operation_of[event_class] = name

    @property
    def event_types(self) -> Collection[type]:
        """The events on which the consumer performs one of the commands."""
        return self._operation_of.keys()

    async def around(self, consumer: str, event: Event, effect: Effect) -> None:
        """Handle one delivery (`effect`) under the first rule its command draws, if any."""
        operation = self._operation_of.get(type(event))
        rule = self._store.draw(operation) if operation is not None else None
        if operation is None or rule is None:
            await effect()
            return
        # The student is named by the delivery's logging context (choreography.bus).
        log.warning(
            "injecting %s into %s (%s on %s %s, rule %d)",
            rule.kind,
            operation,
            consumer,
            event.type,
            event.event_id,
            rule.rule_id,
        )
        if rule.kind is FaultKind.LATENCY:
            await asyncio.sleep(rule.latency_ms / 1000)
            await effect()
        elif rule.kind is FaultKind.ERROR_BEFORE_COMMIT:
            raise InjectedFault(f"injected fault: {operation} was not performed")
        elif rule.kind is FaultKind.ERROR_AFTER_COMMIT:
            await effect()
            raise InjectedFault(f"injected fault: {operation} was performed, not acked")
        else:
            self._exit_process(CRASH_EXIT_CODE)  # no cleanup, no ack, as with a real crash
