"""Who consumes which event: the only place the choreographed flow is visible as a whole.

Each service subscribes to the events it reacts to and nothing else; the tracker to all of them.
The broker wiring declares one durable consumer (NATS) or queue (RabbitMQ) per pair below, at
every process's start, so an event published before its consumer first ran is not lost.
"""

from choreography.events import (
    EVENT_TYPES,
    EnrollmentCancelled,
    EnrollmentConfirmationFailed,
    EnrollmentConfirmed,
    Event,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    SeatRejected,
    SeatReserved,
    StudentCreated,
    type_name,
)

API = "api"
ENROLLMENT = "enrollment"
BILLING = "billing"
TRACKER = "tracker"

SUBSCRIPTIONS: dict[str, tuple[type[Event], ...]] = {
    ENROLLMENT: (StudentCreated, PaymentCaptured, PaymentDeclined, PaymentRefunded),
    # EnrollmentCancelled: refund whatever was captured for a cancelled (e.g. expired) seat.
    BILLING: (SeatReserved, EnrollmentConfirmationFailed, EnrollmentCancelled),
    TRACKER: EVENT_TYPES,
}


def subscribed_types(consumer: str) -> list[str]:
    return [type_name(event_class) for event_class in SUBSCRIPTIONS[consumer]]


# Who emits which event (through its own outbox); for the AsyncAPI document and for readers.
PUBLICATIONS: dict[str, tuple[type[Event], ...]] = {
    API: (StudentCreated,),
    ENROLLMENT: (
        SeatReserved,
        SeatRejected,
        EnrollmentConfirmed,
        EnrollmentConfirmationFailed,
        EnrollmentCancelled,
    ),
    BILLING: (PaymentCaptured, PaymentDeclined, PaymentRefunded, PaymentVoided),
}
