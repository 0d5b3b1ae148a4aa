"""The AsyncAPI document of the choreography, generated from the code:

    faststream docs gen --factory choreography.asyncapi:specification --out docs/asyncapi.json

It wires a NATS bus exactly as the processes do (topology.py: every durable consumer) and adds
a documented publisher per event each process emits, with the event's JSON schema. Nothing
connects to a broker.
"""

from faststream import FastStream
from faststream.specification import AsyncAPI

from choreography.bus import NatsBus
from choreography.config import DEFAULT_NATS_URL, BrokerConfig
from choreography.events import Event, type_name
from choreography.topology import PUBLICATIONS, SUBSCRIPTIONS


async def _not_run(_: Event) -> None:
    raise NotImplementedError("documentation only")


def specification() -> FastStream:
    bus = NatsBus(BrokerConfig(url=DEFAULT_NATS_URL))
    for consumer in SUBSCRIPTIONS:
        bus.subscribe(consumer, _not_run)
    for producer, event_classes in PUBLICATIONS.items():
        for event_class in event_classes:
            event_type = type_name(event_class)
            bus.broker.publisher(
                bus.subject(event_type),
                stream=bus.events_stream,
                schema=event_class,
                title=f"{producer}:{event_type}",
                description=event_class.__doc__ or f"{producer} emits {event_type}.",
            )
    return FastStream(
        bus.broker,
        specification=AsyncAPI(
            title="Student onboarding saga, choreographed",
            version="1.0.0",
            description=(
                "Events of the choreographed student onboarding saga on NATS JetStream (the same "
                "events go over a RabbitMQ topic exchange with routing key = type). "
                "Subjects are <namespace>.events.<Type>; the default namespace is 'saga'."
            ),
        ),
    )
