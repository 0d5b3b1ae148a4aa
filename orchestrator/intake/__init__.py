"""The event intake: sagas started by the registry's `StudentCreated` event on a broker.

Another team's student registry publishes the event on RabbitMQ or NATS JetStream and never
calls our API. `python -m orchestrator.intake` consumes it (deliveries.py: one delivery, one
saga at most; acknowledged only once Temporal accepted the start), on the broker its URL names
(on_nats.py, on_rabbitmq.py); messages that break the contract (contract.py) are dead-lettered
with their reason (dead_letters.py), listed and redriven by `saga intake ...` (cli.py).
"""

from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.on_nats import NatsIntake
from orchestrator.intake.on_rabbitmq import RabbitIntake

IntakeBroker = NatsIntake | RabbitIntake


def create_broker(settings: IntakeSettings) -> IntakeBroker:
    """The intake's side of the broker INTAKE_BROKER_URL names (not connected yet)."""
    if settings.intake_broker_kind() == "rabbitmq":
        return RabbitIntake(settings)
    return NatsIntake(settings)
