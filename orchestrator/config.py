"""Settings of the orchestrator's processes (API and worker), read from the environment."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from choreography.config import BrokerSettings
from workflows.contracts import TASK_QUEUE


class OrchestratorSettings(BrokerSettings):
    """With BROKER_URL set, the API also runs choreographed sagas: its own database (DATABASE_URL,
    default DATA_DIR/api.db) holds their registry, its outbox and the saga tracker."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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

    def api_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def database_url_for_api(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'api'}.db"
