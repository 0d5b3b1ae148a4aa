"""Delivery faults a test (or a demo) arms on a consumer, to show what the broker and the inbox
do about them. Not a mock: the events, the broker and the databases stay real; only the point
where a consumer fails is chosen instead of left to luck.

- `fail_next`: the next N deliveries fail before any effect (a transient fault): redelivered.
- `crash_after_effect`: the next N deliveries commit their effect, then fail before the ack (as a
  process dying there would): redelivered, and the inbox must stop the effect from repeating.
- `before`: run a hook first (e.g. to interleave a conflicting change).
"""

import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from choreography.events import Event

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
