"""Settings pieces the processes compose: environment, migrations, database, observability."""

from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class DatabaseSettings(BaseSettings):
    """DATABASE_URL, else a SQLite file of the process's own under DATA_DIR (the embedded
    default): `<data dir>/<name>.db`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    data_dir: Path = DATA_DIR

    def database_url_for(self, name: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / name}.db"


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
