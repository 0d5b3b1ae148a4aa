"""Settings the two services share; each service subclasses them with its own defaults."""

from typing import Self

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from choreography.config import BrokerSettings
from common.auth import Credentials
from common.secrets import refuse_weak_secrets, secret_values
from common.settings import (
    DatabaseSettings,
    EnvironmentSettings,
    MigrationSettings,
    ObservabilitySettings,
)


class ServiceSettings(
    MigrationSettings, DatabaseSettings, BrokerSettings, EnvironmentSettings, ObservabilitySettings
):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # ENVIRONMENT (EnvironmentSettings) also decides the schema: in development a new, empty
    # database is created from the models (create_all) and stamped at the head revision; in
    # production the migrations themselves build it.
    host: str = "127.0.0.1"
    port: int = 8001
    # FAULT_INJECTION=1 adds /_faults (common/faults.py): for tests and demos, never production.
    fault_injection: bool = False
    # Comma-separated; a caller must send one on every request that changes state (see
    # common/secrets.py for rotation). Required in production; unset in development: open.
    service_tokens: SecretStr | None = None

    @model_validator(mode="after")
    def production_requires_strong_service_tokens(self) -> Self:
        if self.environment != "development":
            refuse_weak_secrets({"SERVICE_TOKENS": self.service_tokens}, required=True)
        return self

    def credentials(self, service_name: str) -> Credentials:
        """Reads are open: the services are internal (never published, see docker-compose.yml)
        and their reads change nothing; every write moves a seat or money and needs a token."""
        return Credentials(
            kind="service token",
            variable="SERVICE_TOKENS",
            realm=service_name,
            operators=secret_values(self.service_tokens),
            public_reads=True,
        )
