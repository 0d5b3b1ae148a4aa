"""Settings every service process shares; each service subclasses this with its own defaults."""

from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from choreography.config import BrokerSettings

DATA_DIR = Path("data")


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


class ServiceSettings(BrokerSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    data_dir: Path = DATA_DIR
    host: str = "127.0.0.1"
    port: int = 8001
    # FAULT_INJECTION=1 adds /_faults (common/faults.py): for tests and demos, never production.
    fault_injection: bool = False

    def database_url_for(self, service_name: str) -> str:
        """DATABASE_URL if set, else a SQLite file of this service's own under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / service_name}.db"
