from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class EnrollmentSettings(ServiceSettings):
    """Environment: DATABASE_URL, HOST, PORT (default 8001), DATA_DIR; or ENROLLMENT_-prefixed."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    port: int = 8001
