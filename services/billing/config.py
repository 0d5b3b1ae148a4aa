from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    """Environment: DATABASE_URL (default: DATA_DIR/billing.db), HOST, PORT (default 8002)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    port: int = 8002
