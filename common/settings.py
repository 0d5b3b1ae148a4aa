"""Settings every service process shares; each service subclasses this with its own defaults."""

from pathlib import Path
from typing import Literal, Self

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from choreography.config import BrokerSettings
from common.auth import Credentials
from common.secrets import refuse_weak_secrets, secret_values

DATA_DIR = Path("data")

Environment = Literal["development", "production"]
# What a process does to its database's schema at start (common/migrations.py).
MigrationMode = Literal["upgrade", "check"]


class EnvironmentSettings(BaseSettings):
    """ENVIRONMENT: "production" refuses to run without what development mode lets you leave
    out (secrets, encryption keys) and refuses weak or well-known secrets (common/secrets.py).
    A refusal never quotes the input: it would print every secret of the process."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Environment = "development"


class MigrationSettings(BaseSettings):
    """How a process that owns a database brings its schema up to date at start
    (common/migrations.py, docs/deployment.md "Database migrations")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # upgrade: apply pending migrations at start (replicas take turns on a lock).
    # check: change nothing, refuse to start unless the database is at the code's revision
    # (for deployments that migrate in a separate step, with a role allowed to alter tables).
    database_migrations: MigrationMode = "upgrade"


class ObservabilitySettings(BaseSettings):
    """Traces, logs (docs/deployment.md, "Observability"), read by every process. The OTEL_*
    names are OpenTelemetry's own, so the usual deployment configuration applies."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Traces go to this OTLP/HTTP collector (`/v1/traces` is appended, as the specification
    # says); unset: no tracing at all, not even spans in memory. OTEL_TRACES_EXPORTER=console
    # prints spans to stdout instead, for a look without a collector.
    otel_exporter_otlp_endpoint: str | None = None
    otel_traces_exporter: Literal["otlp", "console", "none"] = "otlp"
    # The process's name in traces; each process has its own default.
    otel_service_name: str | None = None
    # text for a terminal (`make up`), json for a log pipeline (one object per line).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def log_level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def tracing_enabled(self) -> bool:
        if self.otel_traces_exporter == "console":
            return True
        return self.otel_traces_exporter == "otlp" and bool(self.otel_exporter_otlp_endpoint)


class ServiceSettings(
    MigrationSettings, BrokerSettings, EnvironmentSettings, ObservabilitySettings
):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # ENVIRONMENT (EnvironmentSettings) also decides the schema: in development a new, empty
    # database is created from the models (create_all) and stamped at the head revision; in
    # production the migrations themselves build it.
    database_url: str | None = None
    data_dir: Path = DATA_DIR
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

    def database_url_for(self, service_name: str) -> str:
        """DATABASE_URL if set, else a SQLite file of this service's own under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / service_name}.db"

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
