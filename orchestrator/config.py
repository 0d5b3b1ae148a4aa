"""Settings of the orchestrator's processes (API, worker, codec server), read from the
environment (plain names: TEMPORAL_ADDRESS, PAYLOAD_KEYS, ...) or a `.env` file."""

from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from choreography.config import BrokerSettings
from common.settings import Environment, MigrationSettings
from orchestrator.codec import PayloadKeys, parse_keys
from workflows.contracts import TASK_QUEUE


class PayloadEncryptionSettings(BaseSettings):
    """What every process that reads or writes Temporal payloads needs to seal and open them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # "production" refuses to run without what development mode lets you leave out.
    environment: Environment = "development"
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


class OrchestratorSettings(PayloadEncryptionSettings, MigrationSettings, BrokerSettings):
    """With BROKER_URL set, the API also runs choreographed sagas: its own database (DATABASE_URL,
    default DATA_DIR/api.db) holds their registry, its outbox and the saga tracker."""

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    temporal_ui_url: str = "http://127.0.0.1:8233"
    enrollment_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    # One HTTP attempt; the activity's start-to-close (15 s by default) must be longer.
    http_timeout_seconds: float = 10.0
    http_max_connections: int = 100
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path("data")
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

    def api_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def database_url_for_api(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'api'}.db"


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

    def ui_origin(self) -> str:
        parts = urlsplit(self.temporal_ui_url)
        return f"{parts.scheme}://{parts.netloc}"
