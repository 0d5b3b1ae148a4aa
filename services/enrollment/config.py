from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from choreography.config import retry_budget_seconds
from services.enrollment.expiry import DEFAULT_RESERVATION_TTL_SECONDS
from services.settings import ServiceSettings


class EnrollmentSettings(ServiceSettings):
    """Environment: DATABASE_URL, HOST, PORT (default 8001), DATA_DIR; or ENROLLMENT_-prefixed."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    port: int = 8001
    # A benchmark and test fixture, like FAULT_INJECTION: seats in these courses can be held and
    # paid for, but their confirmation is refused (409 enrollment-not-confirmable), as if the
    # registrar had closed the course meanwhile. It gives `make bench` its confirm failures
    # without a proxy on the measured path. Empty unless set, e.g. '["BENCHCLOSED"]'.
    unconfirmable_courses: frozenset[str] = frozenset()
    # RESERVATION_TTL_SECONDS: a seat reserved by the choreographed saga that is not confirmed
    # within this time is cancelled (EnrollmentCancelled, expired), and billing refunds any
    # capture for it: the choreography's counterpart of the orchestrator's step deadline
    # (docs/orchestration-vs-choreography.md). Reservations of orchestrated sagas never expire.
    reservation_ttl_seconds: float = Field(default=DEFAULT_RESERVATION_TTL_SECONDS, gt=0)

    @model_validator(mode="after")
    def reservations_outlive_the_retry_budget(self) -> Self:
        """A reservation that expired while its saga's events were still being retried would
        compensate a saga that was about to complete; the expiry is for what retries gave up."""
        if self.broker_url and self.reservation_ttl_seconds <= (
            budget := retry_budget_seconds(self.broker_max_attempts)
        ):
            raise ValueError(
                f"RESERVATION_TTL_SECONDS ({self.reservation_ttl_seconds:g}) must exceed the "
                f"broker's retry budget ({budget:g} s for BROKER_MAX_ATTEMPTS="
                f"{self.broker_max_attempts})"
            )
        return self
