"""Who consumes which event: the only place the choreographed flow is visible as a whole.

Each service subscribes to the events it reacts to and nothing else; the tracker to all of them.
The broker wiring declares one durable consumer (NATS) or queue (RabbitMQ) per pair below, at
every process's start, so an event published before its consumer first ran is not lost.
"""

from choreography.events import (
    EVENT_TYPES,
    EnrollmentConfirmationFailed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    SeatReserved,
    StudentCreated,
    type_name,
)

ENROLLMENT = "enrollment"
BILLING = "billing"
TRACKER = "tracker"

SUBSCRIPTIONS: dict[str, tuple[type[Event], ...]] = {
    ENROLLMENT: (StudentCreated, PaymentCaptured, PaymentDeclined, PaymentRefunded),
    BILLING: (SeatReserved, EnrollmentConfirmationFailed),
    TRACKER: EVENT_TYPES,
}


def subscribed_types(consumer: str) -> list[str]:
    return [type_name(event_class) for event_class in SUBSCRIPTIONS[consumer]]
