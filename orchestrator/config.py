"""Settings of the orchestrator's processes (API, worker, codec server), read from the
environment (plain names: TEMPORAL_ADDRESS, PAYLOAD_KEYS, ...) or a `.env` file, and of the
API's clients (SAGA_API_KEY)."""

from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from choreography.config import API_DATABASE, BrokerSettings
from common.auth import Credentials, bearer_headers
from common.payload_keys import PayloadKeys, parse_keys
from common.secrets import refuse_weak_secrets, secret_values
from common.settings import (
    DatabaseSettings,
    EnvironmentSettings,
    MigrationSettings,
    ObservabilitySettings,
)
from workflows.contracts import TASK_QUEUE


class PayloadEncryptionSettings(EnvironmentSettings):
    """What every process that reads or writes Temporal payloads needs to seal and open them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # `key-id:base64-key[,...]`, the first seals new payloads (see orchestrator/codec.py).
    # Required in production; in development, without it payloads are stored in plaintext.
    payload_keys: SecretStr | None = None

    @field_validator("payload_keys")
    @classmethod
    def payload_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def production_encrypts_payloads(self) -> Self:
        if self.environment != "development" and self.payload_keys is None:
            raise ValueError(
                "PAYLOAD_KEYS is required outside development mode: without it the students' "
                "personal data would be stored in Temporal in plaintext"
            )
        return self

    def parsed_payload_keys(self) -> PayloadKeys | None:
        if self.payload_keys is None:
            return None
        return parse_keys(self.payload_keys.get_secret_value())


class TemporalSettings(PayloadEncryptionSettings, ObservabilitySettings):
    """What every process that talks to Temporal reads (API, worker, intake, CLI)."""

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # Temporal Cloud or a TLS cluster: an API key (TLS is then implied), or mTLS with a client
    # certificate and key (PEM files); a CA file for a cluster whose CA is not a public one.
    temporal_api_key: SecretStr | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None

    @model_validator(mode="after")
    def client_certificate_comes_with_its_key(self) -> Self:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS)")
        return self


class ServiceClientSettings(BaseSettings):
    """How a process calls enrollment and billing: the worker for every step, the API and the
    CLI for reads (open on the services, so a token is optional for them)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    enrollment_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    # One HTTP attempt; the activity's start-to-close (15 s by default) must be longer.
    http_timeout_seconds: float = 10.0
    http_max_connections: int = 100
    # What is sent to the services: the first of their SERVICE_TOKENS.
    service_tokens: SecretStr | None = None

    def service_headers(self) -> dict[str, str]:
        """The header of every call to the services: the first of SERVICE_TOKENS."""
        return bearer_headers(next(iter(secret_values(self.service_tokens)), None))


class WorkerSettings(TemporalSettings, ServiceClientSettings):
    """The worker (`python -m orchestrator.worker`): it writes to the services, so outside
    development it needs SERVICE_TOKENS; it serves no API, so it never needs API_KEYS."""

    host: str = "127.0.0.1"
    # The worker's cache of workflow runs and its slots: how many workflow tasks, activities
    # and local activities it runs at once. 20 workflow tasks and 20 local activities: with
    # more, a hundred sagas' steps share the host's cores and the slowest wait longest; with
    # 20, the rest wait in the task queue, oldest first. Measured on 2 cores at 100 sagas in
    # flight: p99/p50 1.3-1.4 against 1.6-2.5 with the SDK's 100, throughput and CPU the same
    # (docs/benchmarks.md, tuning log entry 23). A step's local try holds its workflow task's
    # slot (up to `local_attempt_seconds`): with a service that hangs, raise both. Regular
    # activities (a step's later attempts, which may wait long on a slow service) keep the
    # SDK's default (100); the cache's default is the SDK's too.
    worker_max_cached_workflows: Annotated[int, Field(ge=0)] = 1000
    worker_max_concurrent_workflow_tasks: Annotated[int, Field(ge=2)] | None = 20
    worker_max_concurrent_activities: Annotated[int, Field(ge=1)] | None = None
    worker_max_concurrent_local_activities: Annotated[int, Field(ge=1)] | None = 20
    # The worker serves Prometheus metrics (Temporal SDK's and the saga's) on HOST:METRICS_PORT
    # at /metrics; unset: no metrics endpoint. The API serves its own on its PORT.
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="after")
    def production_requires_strong_service_tokens(self) -> Self:
        if self.environment != "development":
            refuse_weak_secrets({"SERVICE_TOKENS": self.service_tokens}, required=True)
        return self


class OrchestratorSettings(
    TemporalSettings, ServiceClientSettings, MigrationSettings, DatabaseSettings, BrokerSettings
):
    """The API (`python -m orchestrator`) and the `saga` CLI. With BROKER_URL set, the API also
    runs choreographed sagas: its own database (DATABASE_URL, default DATA_DIR/api.db) holds
    their registry, its outbox and the saga tracker."""

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    # Comma-separated (rotation: common/secrets.py). API_KEYS may do anything; the optional
    # API_READ_ONLY_KEYS may only read (GET). Unset in development: the API is open.
    api_keys: SecretStr | None = None
    api_read_only_keys: SecretStr | None = None

    @model_validator(mode="after")
    def production_requires_strong_credentials(self) -> Self:
        """Outside development the API needs API_KEYS; the service tokens it may hold (for its
        reads) are checked like any secret."""
        if self.environment != "development":
            refuse_weak_secrets({"API_KEYS": self.api_keys}, required=True)
            refuse_weak_secrets(
                {
                    "API_READ_ONLY_KEYS": self.api_read_only_keys,
                    "SERVICE_TOKENS": self.service_tokens,
                },
                required=False,
            )
        return self

    def api_credentials(self) -> Credentials:
        return Credentials(
            kind="API key",
            variable="API_KEYS",
            realm="saga-api",
            operators=secret_values(self.api_keys),
            readers=secret_values(self.api_read_only_keys),
        )

    def api_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def saga_url(self, saga_id: str) -> str:
        """A saga's status URL: the Location of every answer that starts or retries one."""
        return f"{self.api_base_url()}/sagas/{saga_id}"

    def database_url_for_api(self) -> str:
        return self.database_url_for(API_DATABASE)


class CodecServerSettings(PayloadEncryptionSettings):
    """The codec server that lets the Temporal UI and CLI show sealed payloads decoded."""

    # Anyone holding it can read every student's personal data: required, and long.
    codec_server_token: Annotated[SecretStr, Field(min_length=24)]
    # Browsers on this origin (the Temporal UI) may call the server.
    temporal_ui_url: str = "http://127.0.0.1:8233"
    temporal_namespace: str = "default"
    host: str = "127.0.0.1"
    port: int = 8081

    @model_validator(mode="after")
    def codec_server_needs_keys(self) -> Self:
        if self.payload_keys is None:
            raise ValueError("the codec server needs PAYLOAD_KEYS: it has nothing to decode with")
        return self

    @model_validator(mode="after")
    def production_refuses_a_weak_token(self) -> Self:
        if self.environment != "development":
            refuse_weak_secrets({"CODEC_SERVER_TOKEN": self.codec_server_token}, required=True)
        return self

    def ui_origin(self) -> str:
        parts = urlsplit(self.temporal_ui_url)
        return f"{parts.scheme}://{parts.netloc}"


class ApiClientSettings(BaseSettings):
    """What a client of the API (the `saga` CLI, `make demo`) sends: SAGA_API_KEY, one of the
    API's API_KEYS (`make up` writes both to .env)."""

    model_config = SettingsConfigDict(
        env_prefix="SAGA_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    api_key: SecretStr | None = None

    def headers(self) -> dict[str, str]:
        return bearer_headers(self.api_key.get_secret_value() if self.api_key else None)
