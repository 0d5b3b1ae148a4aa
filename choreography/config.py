"""Broker settings shared by every process that takes part in the choreography."""

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4223"
RETRY_FIRST_DELAY_SECONDS = 0.2
RETRY_MAX_DELAY_SECONDS = 5.0


def retry_delay(attempt: int) -> float:
    """Backoff before the next delivery after `attempt` failed ones: 0.2 s, doubling, 5 s max."""
    return min(RETRY_FIRST_DELAY_SECONDS * 2 ** (attempt - 1), RETRY_MAX_DELAY_SECONDS)


def retry_budget_seconds(max_attempts: int) -> float:
    """How long a failing event is retried before it is dead-lettered (the waits between its
    `max_attempts` deliveries): about 26 s for the default 10."""
    return sum(retry_delay(attempt) for attempt in range(1, max_attempts))


class BrokerConfig(BaseModel):
    """`url` picks the broker: nats://... (JetStream) or amqp://... (RabbitMQ).

    `namespace` prefixes every stream, subject, exchange and queue name, so that several
    deployments (or test sessions) can share one broker without seeing each other's events.
    """

    url: str
    namespace: str = Field(default="saga", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    max_attempts: int = Field(default=10, ge=1)

    @property
    def kind(self) -> Literal["nats", "rabbitmq"]:
        if self.url.startswith(("amqp://", "amqps://")):
            return "rabbitmq"
        if self.url.startswith(("nats://", "tls://")):
            return "nats"
        raise ValueError(f"BROKER_URL must start with nats:// or amqp://, got {self.url!r}")


class BrokerSettings(BaseSettings):
    """Environment of every process on the bus: BROKER_URL (unset: choreography off in that
    process), BROKER_NAMESPACE, BROKER_MAX_ATTEMPTS (deliveries before a dead letter)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    broker_url: str | None = None
    broker_namespace: str = "saga"
    broker_max_attempts: int = 10

    def broker_config(self) -> BrokerConfig | None:
        if not self.broker_url:
            return None
        return BrokerConfig(
            url=self.broker_url,
            namespace=self.broker_namespace,
            max_attempts=self.broker_max_attempts,
        )
