"""Tables and API shapes of the billing service (SQLModel: Base, Create, table, Public)."""

from datetime import UTC, datetime

from pydantic import ConfigDict
from sqlmodel import Field, Relationship, SQLModel

from common.ids import PAYMENT_TOKEN_MAX_LENGTH, STUDENT_ID_MAX_LENGTH
from services.billing import domain
from services.billing.domain import ChargeStatus, RefundStatus

CHARGE_ID_MAX_LENGTH = 36
# A refund made by this service itself (the full refund's remainder, or one migrated from a
# REFUNDED charge of before partial refunds) has an id of its own form: see 0002.
REFUND_ID_MAX_LENGTH = 64


def _now() -> datetime:
    return datetime.now(UTC)


class ChargeBase(SQLModel):
    student_id: str = Field(index=True, min_length=1, max_length=STUDENT_ID_MAX_LENGTH)
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
        min_length=1,
        max_length=PAYMENT_TOKEN_MAX_LENGTH,
        description="A test token: tok_visa approves",
    )


class Charge(ChargeBase, table=True):
    charge_id: str = Field(primary_key=True, max_length=CHARGE_ID_MAX_LENGTH)
    status: str = Field(default=ChargeStatus.CAPTURED, max_length=16)
    idempotency_key: str = Field(unique=True, max_length=255)
    request_fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_now)
    refunded_at: datetime | None = None  # when the full refund closed the charge

    # Loaded with every charge (one extra SELECT for any number of charges), so a charge read
    # in a use case can be answered after its session is closed.
    refunds: list["Refund"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "Refund.created_at"}
    )

    @property
    def refunded_cents(self) -> int:
        return domain.refunded_cents(
            (refund.amount_cents, RefundStatus(refund.status)) for refund in self.refunds
        )


class RevokedChargeKey(SQLModel, table=True):
    """An idempotency key refunded before any charge was made with it (a tombstone)."""

    idempotency_key: str = Field(primary_key=True, max_length=255)
    revoked_at: datetime = Field(default_factory=_now)


class RefundCreate(SQLModel):
    # Strict, as a charge: a JSON `true` or `"500"` must not become an amount of money.
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    amount_cents: int = Field(gt=0, description="At most what is left to refund on the charge")


class Refund(SQLModel, table=True):
    """Money returned from one charge. A partial refund carries its caller's idempotency key;
    the full refund's remainder has none (it is idempotent by the charge's status)."""

    refund_id: str = Field(primary_key=True, max_length=REFUND_ID_MAX_LENGTH)
    charge_id: str = Field(
        foreign_key="charge.charge_id", index=True, max_length=CHARGE_ID_MAX_LENGTH
    )
    amount_cents: int
    status: str = Field(default=RefundStatus.REFUNDED, max_length=16)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=255)
    request_fingerprint: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=_now)
    reversed_at: datetime | None = None


class RevokedRefundKey(SQLModel, table=True):
    """An idempotency key reversed before any refund was made with it (a tombstone)."""

    idempotency_key: str = Field(primary_key=True, max_length=255)
    revoked_at: datetime = Field(default_factory=_now)


class RefundPublic(SQLModel):
    refund_id: str
    charge_id: str
    amount_cents: int
    status: RefundStatus
    idempotency_key: str | None  # the caller's own key; none on the full refund's remainder
    created_at: datetime
    reversed_at: datetime | None


class ChargePublic(ChargeBase):
    charge_id: str
    status: ChargeStatus
    refunded_at: datetime | None
    idempotency_key: str  # the caller's own key: lets a saga find what it created
    refunded_cents: int = Field(description="The sum of the refunds that count (not REVERSED)")
    refunds: list[RefundPublic]


TABLES = (Charge, RevokedChargeKey, Refund, RevokedRefundKey)
