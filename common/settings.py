"""Settings every service process shares; each service subclasses this with its own defaults."""

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from choreography.config import BrokerSettings

DATA_DIR = Path("data")

# "production" refuses to run without what development mode lets you leave out.
Environment = Literal["development", "production"]
# What a process does to its database's schema at start (common/migrations.py).
MigrationMode = Literal["upgrade", "check"]


class MigrationSettings(BaseSettings):
    """How a process that owns a database brings its schema up to date at start
    (common/migrations.py, docs/deployment.md "Database migrations")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # upgrade: apply pending migrations at start (replicas take turns on a lock).
    # check: change nothing, refuse to start unless the database is at the code's revision
    # (for deployments that migrate in a separate step, with a role allowed to alter tables).
    database_migrations: MigrationMode = "upgrade"


class ServiceSettings(MigrationSettings, BrokerSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # In development a new, empty database is created from the models (create_all) and stamped
    # at the head revision; in production the migrations themselves build it.
    environment: Environment = "development"
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
