"""A process's part in the choreography: its bus, its consumer and its outbox relay, started in
the app's lifespan and stopped with it. Every consumer is the same thin loop: a delivery goes
through the inbox to the service's reaction (a use case), whose follow-up events the relay then
publishes."""

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial

from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine

from choreography import tracker
from choreography.bus import EventBus, create_bus
from choreography.config import BrokerConfig, BrokerSettings
from choreography.ends import SagaEnds
from choreography.events import Event
from choreography.faults import CommandFaults, DeliveryFaults
from choreography.inbox import ProcessedEvent, Reaction, apply_once
from choreography.outbox import OutboxMessage, OutboxRelay
from choreography.retention import pruning_timer
from choreography.saga_metrics import SagaOutcomeMetrics
from choreography.timers import Timer, TimerLoop
from choreography.topology import SUBSCRIPTIONS
from choreography.tracing import tracer_of

# In the schema of every database on the bus (SCHEMA of each service, API_SCHEMA of the API).
TABLES = (OutboxMessage, ProcessedEvent)


class Choreography:
    def __init__(
        self,
        config: BrokerConfig,
        engine: Engine,
        consumer: str | None = None,
        reactions: Mapping[type[Event], Reaction] | None = None,
        faults: DeliveryFaults | None = None,
        timers: Sequence[Timer] = (),
        command_faults: CommandFaults | None = None,
        saga_metrics: SagaOutcomeMetrics | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        # Traced: a span per delivery and per publish, one trace per saga (tracing.py).
        tracer = tracer_of(tracer_provider)
        self.bus: EventBus = create_bus(config, tracer)
        self.relay = OutboxRelay(
            engine, self.bus.publish, tracer=tracer, messaging_system=config.kind
        )
        self._consumer = consumer
        self._reactions = dict(reactions or {})
        if consumer is not None:
            check_reactions(consumer, self._reactions)
            check_command_faults(consumer, self._reactions, command_faults)
        self._faults = faults
        self._command_faults = command_faults
        self._saga_metrics = saga_metrics  # the tracker's consumer counts the ends it sees
        self.ends = SagaEnds()  # who waits for a saga the tracker sees end (the API)
        if consumer is not None:
            self.bus.subscribe(consumer, self._handle)
        every = [*timers, pruning_timer(config.retention_seconds)]
        self._timers = [TimerLoop(engine, timer, self.relay.wake) for timer in every]

    async def start(self) -> None:
        await self.bus.start()
        self.relay.start()
        for timer in self._timers:
            timer.start()

    async def stop(self) -> None:
        for timer in self._timers:
            await timer.stop()
        await self.relay.stop()
        await self.bus.close()

    async def _handle(self, event: Event) -> None:
        assert self._consumer is not None
        if self._faults is not None:
            await self._faults.on_delivery(self._consumer, event)
        if self._command_faults is None:
            await self._react(event)
        else:
            await self._command_faults.around(self._consumer, event, partial(self._react, event))

    async def _react(self, event: Event) -> None:
        assert self._consumer is not None
        react = self._reactions[type(event)]
        if react is tracker.track:
            # The tracker's table is its own inbox: one transaction, no session (its events
            # are most of the API's work in choreography).
            tracked = await asyncio.to_thread(tracker.track_once, self.engine, event)
            if tracked.ended:
                self.ends.ended(event.student_id)
                if self._saga_metrics is not None:
                    self._saga_metrics.record(tracked)
        elif await asyncio.to_thread(apply_once, self.engine, event, react):
            self.relay.wake()  # events were staged
        if self._faults is not None:
            self._faults.after_effect(self._consumer, event)


def check_reactions(consumer: str, reactions: Mapping[type[Event], Reaction]) -> None:
    """The topology says what a consumer receives; its reactions must cover exactly that. A
    missing one would fail every such delivery into the dead letters, an extra one would never
    run: both are wiring bugs, refused at startup rather than found in production."""
    subscribed = set(SUBSCRIPTIONS[consumer])
    if set(reactions) != subscribed:
        missing = sorted(event.__name__ for event in subscribed - set(reactions))
        extra = sorted(event.__name__ for event in set(reactions) - subscribed)
        raise ValueError(
            f"{consumer}'s reactions do not match choreography/topology.py: "
            f"missing {missing or 'none'}, not subscribed {extra or 'none'}"
        )


def check_command_faults(
    consumer: str,
    reactions: Mapping[type[Event], Reaction],
    command_faults: CommandFaults | None,
) -> None:
    """A command's fault rules meant for events the consumer never reacts to would never fire
    there: a wiring bug (a renamed event, a reaction moved to another service), refused too."""
    if command_faults is None:
        return
    unreached = sorted(event.__name__ for event in set(command_faults.event_types) - set(reactions))
    if unreached:
        raise ValueError(
            f"{consumer} has command faults for events it does not react to: {unreached}"
        )


@asynccontextmanager
async def running(
    settings: BrokerSettings,
    engine: Engine,
    consumer: str | None = None,
    reactions: Mapping[type[Event], Reaction] | None = None,
    faults: DeliveryFaults | None = None,
    timers: Sequence[Timer] = (),
    command_faults: CommandFaults | None = None,
    saga_metrics: SagaOutcomeMetrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> AsyncIterator[Choreography | None]:
    """The process's choreography while the app runs; None when BROKER_URL is unset. `timers`
    run only with it: they are part of the choreographed saga (the reservation expiry).
    `command_faults`: the service's /_faults rules, applied to its consumer's deliveries too.
    `tracer_provider`: the process's (None with tracing off), for its consumer and relay spans."""
    config = settings.broker_config()
    if config is None:
        yield None
        return
    choreography = Choreography(
        config,
        engine,
        consumer,
        reactions,
        faults,
        timers,
        command_faults,
        saga_metrics,
        tracer_provider,
    )
    await choreography.start()
    try:
        yield choreography
    finally:
        await choreography.stop()
