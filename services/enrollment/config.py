from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class EnrollmentSettings(ServiceSettings):
    """Environment: DATABASE_URL, HOST, PORT (default 8001), DATA_DIR; or ENROLLMENT_-prefixed."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    port: int = 8001
    # A benchmark and test fixture, like FAULT_INJECTION: seats in these courses can be held and
    # paid for, but their confirmation is refused (409 enrollment-not-confirmable), as if the
    # registrar had closed the course meanwhile. It gives `make bench` its confirm failures
    # without a proxy on the measured path. Empty unless set, e.g. '["BENCHCLOSED"]'.
    unconfirmable_courses: frozenset[str] = frozenset()
