"""Settings of the event intake (`python -m orchestrator.intake`) and of the commands that read
its dead letters or publish to its channel: the orchestrator's own (Temporal address, namespace,
task queue, payload keys) plus where the registry's `StudentCreated` events arrive.

The defaults are the contract producers rely on (README, "Sagas started by an event"); change
them only together with the producers."""

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from choreography.config import DEFAULT_NATS_URL, BrokerSettings
from orchestrator.config import TemporalSettings

BrokerKind = Literal["nats", "rabbitmq"]


class IntakeSettings(TemporalSettings, BrokerSettings):
    """INTAKE_BROKER_URL picks the broker by its scheme (nats:// JetStream, amqp:// RabbitMQ);
    unset, the intake uses BROKER_URL, the choreography's broker, else the embedded NATS of
    `make up`."""

    intake_broker_url: str | None = None
    # NATS JetStream: the registry publishes on the subject; the stream captures it (created
    # by the intake if missing, never changed if present); the intake reads it with its own
    # durable consumer. Dead letters go to a stream of the intake's own.
    intake_nats_stream: str = "STUDENTS"
    intake_nats_subject: str = "students.created"
    intake_nats_consumer: str = "saga-intake"
    intake_nats_dead_letter_stream: str = "SAGA_INTAKE_DEAD_LETTERS"
    intake_nats_dead_letter_subject: str = "saga-intake.dead-letters"
    # RabbitMQ: the registry publishes to the durable topic exchange with the routing key; the
    # intake's durable queue is bound to it. Dead letters go to a queue of the intake's own.
    intake_rabbitmq_exchange: str = "students"
    intake_rabbitmq_routing_key: str = "student.created"
    intake_rabbitmq_queue: str = "saga-intake.student-created"
    intake_rabbitmq_dead_letter_queue: str = "saga-intake.dead-letters"
    # Deliveries handled at once (the RabbitMQ prefetch; NATS messages fetched and in flight).
    intake_concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    # A start that Temporal did not accept is redelivered after this backoff: the first delay,
    # doubling per delivery, capped. There is no limit on deliveries: a valid event is never
    # dead-lettered for a fault of ours.
    intake_retry_first_delay_seconds: Annotated[float, Field(gt=0)] = 0.5
    intake_retry_max_delay_seconds: Annotated[float, Field(gt=0)] = 10.0
    # The intake's health routes (/healthz, /readyz) listen on HOST:PORT.
    host: str = "127.0.0.1"
    port: int = 8003

    @model_validator(mode="after")
    def broker_is_nats_or_rabbitmq(self) -> Self:
        self.intake_broker_kind()
        return self

    def intake_broker(self) -> str:
        return self.intake_broker_url or self.broker_url or DEFAULT_NATS_URL

    def intake_broker_kind(self) -> BrokerKind:
        url = self.intake_broker()
        if url.startswith(("amqp://", "amqps://")):
            return "rabbitmq"
        if url.startswith(("nats://", "tls://")):
            return "nats"
        raise ValueError(f"INTAKE_BROKER_URL must start with nats:// or amqp://, got {url!r}")

    def retry_delay(self, delivery: int) -> float:
        """Seconds before delivery number `delivery + 1`, after `delivery` failed ones."""
        delay = self.intake_retry_first_delay_seconds * 2 ** max(delivery - 1, 0)
        return float(min(delay, self.intake_retry_max_delay_seconds))
