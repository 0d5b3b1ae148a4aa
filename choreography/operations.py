"""Operator tasks on the choreography: list and re-drive dead letters, rebuild the saga tracker
by replay."""

import asyncio

from sqlalchemy import Engine

from choreography.bus import DeadLetter, NatsBus, RabbitBus, Selection, create_bus
from choreography.config import BrokerConfig
from choreography.events import Event
from choreography.inbox import handle_once
from choreography.tracker import clear, track


async def list_dead_letters(config: BrokerConfig) -> list[DeadLetter]:
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
    bus: NatsBus | RabbitBus = RabbitBus(config) if config.kind == "rabbitmq" else NatsBus(config)
    await bus.start()
    await asyncio.to_thread(clear, engine)

    async def apply(event: Event) -> None:
        await asyncio.to_thread(handle_once, engine, event, track)

    try:
        return await bus.replay(apply)
    finally:
        await bus.close()
