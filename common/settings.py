"""Settings every service process shares; each service subclasses this with its own defaults."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from choreography.config import BrokerSettings

DATA_DIR = Path("data")


class ServiceSettings(BrokerSettings):
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
