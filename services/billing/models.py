"""Tables and API shapes of the billing service (SQLModel: Base, Create, table, Public)."""

from datetime import UTC, datetime

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from services.billing.domain import ChargeStatus


def _now() -> datetime:
    return datetime.now(UTC)


class ChargeBase(SQLModel):
    student_id: str = Field(index=True, min_length=1, max_length=100)
    enrollment_id: str = Field(index=True, min_length=1, max_length=36)
    amount_cents: int = Field(gt=0)
    # SQLModel's Field has no `pattern` (its `regex` is silently ignored); pass it through.
    currency: str = Field(
        max_length=3, description="ISO 4217 code, e.g. USD", schema_extra={"pattern": "^[A-Z]{3}$"}
    )


class ChargeCreate(ChargeBase):
    # Strict: a JSON `true` or `"1200"` must not become an amount of money.
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    payment_token: str = Field(
        min_length=1, max_length=100, description="A test token: tok_visa approves"
    )


class Charge(ChargeBase, table=True):
    charge_id: str = Field(primary_key=True, max_length=36)
    status: str = Field(default=ChargeStatus.CAPTURED, max_length=16)
    idempotency_key: str = Field(unique=True, max_length=255)
    request_fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_now)
    refunded_at: datetime | None = None


class RevokedChargeKey(SQLModel, table=True):
    """An idempotency key refunded before any charge was made with it (a tombstone)."""

    idempotency_key: str = Field(primary_key=True, max_length=255)
    revoked_at: datetime = Field(default_factory=_now)


class ChargePublic(ChargeBase):
    charge_id: str
    status: ChargeStatus
    refunded_at: datetime | None
    idempotency_key: str  # the caller's own key: lets a saga find what it created


TABLES = (Charge, RevokedChargeKey)
