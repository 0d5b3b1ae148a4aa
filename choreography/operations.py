"""Operator tasks on the choreography: list and re-drive dead letters, rebuild the saga tracker
by replay. Each fails fast on a broker that is down (a service's bus waits an outage out; a
command says so: OSError or a nats.errors.Error)."""

import asyncio

import nats
from sqlalchemy import Engine

from choreography.bus import DeadLetter, NatsBus, RabbitBus, Selection, create_bus
from choreography.config import BrokerConfig
from choreography.events import Event
from choreography.inbox import handle_once
from choreography.tracker import clear, track


async def ensure_reachable(config: BrokerConfig) -> None:
    """Raise at once if the broker is down. nats-py's first connect otherwise retries as its
    reconnects do (the bus sets them unlimited); RabbitMQ's first connection fails at once."""
    if config.kind != "nats":
        return

    async def quiet(_error: Exception) -> None:
        pass

    client = await nats.connect(
        config.url,
        connect_timeout=5,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.1,
        error_cb=quiet,
    )
    await client.close()


async def list_dead_letters(config: BrokerConfig) -> list[DeadLetter]:
    await ensure_reachable(config)
    bus = create_bus(config)
    await bus.start()
    try:
        return await bus.dead_letters()
    finally:
        await bus.close()


async def redrive_dead_letters(config: BrokerConfig, selection: Selection) -> list[DeadLetter]:
    """Deliver the selected dead letters again, once their cause is fixed: each to the consumer
    that gave up on it, with a full retry budget. Safe to repeat, and within NATS's duplicate
    window too: a consumer that applied the event already finds it in its inbox."""
    await ensure_reachable(config)
    bus = create_bus(config)
    await bus.start()
    try:
        return await bus.redrive(selection)
    finally:
        await bus.close()


async def rebuild_tracker(config: BrokerConfig, engine: Engine) -> int:
    """Forget the tracker's state in `engine`, then replay every retained event through the same
    projection the live tracker uses. Returns the number of events replayed.

    Replay needs a retained log: on NATS the events stream is one; on RabbitMQ, whose queues
    forget what they delivered, the stream queue `<ns>.event-log` bound to every event."""
    await ensure_reachable(config)
    bus: NatsBus | RabbitBus = RabbitBus(config) if config.kind == "rabbitmq" else NatsBus(config)
    await bus.start()
    await asyncio.to_thread(clear, engine)

    async def apply(event: Event) -> None:
        await asyncio.to_thread(handle_once, engine, event, track)

    try:
        return await bus.replay(apply)
    finally:
        await bus.close()
