"""Broker settings shared by every process that takes part in the choreography."""

from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.payload_keys import PayloadKeys, parse_keys
from common.settings import DatabaseSettings

DEFAULT_NATS_URL = "nats://127.0.0.1:4223"
# How long a delivery may go unacknowledged before the broker delivers it again: JetStream's
# ack_wait on our consumers, RabbitMQ's default consumer_timeout (30 min).
ACK_TIMEOUT_SECONDS = {"nats": 30.0, "rabbitmq": 1800.0}
DUPLICATE_WINDOW_SECONDS = 120.0
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0
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
    # Published outbox rows and inbox records older than this are pruned (choreography.retention).
    retention_seconds: float = Field(default=DEFAULT_RETENTION_SECONDS, gt=0)

    @model_validator(mode="after")
    def retention_outlives_every_redelivery(self) -> Self:
        """An inbox forgetting an event the broker may still deliver again would apply it twice."""
        if self.retention_seconds < (window := self.redelivery_window_seconds):
            raise ValueError(
                f"CHOREOGRAPHY_RETENTION_SECONDS ({self.retention_seconds:g}) must be at least "
                f"the broker's redelivery window ({window:g} s with BROKER_MAX_ATTEMPTS="
                f"{self.max_attempts} on {self.kind})"
            )
        return self

    @property
    def redelivery_window_seconds(self) -> float:
        """The longest an event may be delivered again after its first delivery: every attempt
        (with the safety-net ones) timing out unacknowledged, the backoff between them, and
        NATS's duplicate window for a relay publishing it again."""
        attempts = self.max_attempts + 2
        return (
            attempts * ACK_TIMEOUT_SECONDS[self.kind]
            + retry_budget_seconds(attempts)
            + DUPLICATE_WINDOW_SECONDS
        )

    @property
    def kind(self) -> Literal["nats", "rabbitmq"]:
        if self.url.startswith(("amqp://", "amqps://")):
            return "rabbitmq"
        if self.url.startswith(("nats://", "tls://")):
            return "nats"
        raise ValueError(f"BROKER_URL must start with nats:// or amqp://, got {self.url!r}")


# The API's database: the choreographed sagas' registry, their tracker, the API's outbox and inbox.
API_DATABASE = "api"


class BrokerSettings(BaseSettings):
    """Environment of every process on the bus: BROKER_URL (unset: choreography off in that
    process), BROKER_NAMESPACE, BROKER_MAX_ATTEMPTS (deliveries before a dead letter),
    CHOREOGRAPHY_RETENTION_SECONDS (how long outbox and inbox rows are kept),
    EVENT_PAYLOAD_KEYS (sealing the events' personal data)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    broker_url: str | None = None
    broker_namespace: str = "saga"
    broker_max_attempts: int = 10
    # CHOREOGRAPHY_RETENTION_SECONDS: see BrokerConfig.retention_seconds (default 7 days).
    choreography_retention_seconds: float = DEFAULT_RETENTION_SECONDS
    # EVENT_PAYLOAD_KEYS, `key-id:base64-key[,...]` like PAYLOAD_KEYS (and usually the same
    # value): they seal the personal data in the choreography's events (choreography/sealing.py;
    # the API seals, billing opens the payment token). Required outside development with a
    # broker; unset in development: plaintext events.
    event_payload_keys: SecretStr | None = None

    @field_validator("event_payload_keys")
    @classmethod
    def event_payload_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def production_seals_events(self) -> Self:
        environment = getattr(self, "environment", "development")  # EnvironmentSettings'
        if self.broker_url and environment != "development" and self.event_payload_keys is None:
            raise ValueError(
                "EVENT_PAYLOAD_KEYS is required outside development mode with BROKER_URL: "
                "without it the students' personal data would travel in plaintext events"
            )
        return self

    def event_keys(self) -> PayloadKeys | None:
        if self.event_payload_keys is None:
            return None
        return parse_keys(self.event_payload_keys.get_secret_value())

    def broker_config(self) -> BrokerConfig | None:
        if not self.broker_url:
            return None
        return BrokerConfig(
            url=self.broker_url,
            namespace=self.broker_namespace,
            max_attempts=self.broker_max_attempts,
            retention_seconds=self.choreography_retention_seconds,
        )


class ChoreographyToolSettings(DatabaseSettings, BrokerSettings):
    """`python -m choreography`: the broker's settings, and the API's database (DATABASE_URL,
    default DATA_DIR/api.db) for rebuild-tracker."""

    def tracker_database_url(self) -> str:
        return self.database_url_for(API_DATABASE)
