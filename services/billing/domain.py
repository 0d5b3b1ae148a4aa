"""Billing rules, free of any framework: which test card approves, and a charge refunds once.

There is no real card processor behind this service; the payment token alone decides:

- `tok_visa` approves the charge;
- `tok_declined` is declined (the card was declined);
- `tok_insufficient_funds` is declined (insufficient funds);
- any other token is declined as unknown, so a typo never turns into a charge.
"""

from enum import StrEnum


class ChargeStatus(StrEnum):
    CAPTURED = "CAPTURED"
    REFUNDED = "REFUNDED"


APPROVING_TOKEN = "tok_visa"
DECLINE_REASONS = {
    "tok_declined": "the card was declined",
    "tok_insufficient_funds": "insufficient funds",
}
TEST_TOKENS = (APPROVING_TOKEN, *DECLINE_REASONS)


class CardDeclined(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Card declined: {reason}.")
        self.reason = reason


class ChargeNotFound(Exception):
    def __init__(self, charge_id: str) -> None:
        super().__init__(f"No charge '{charge_id}'.")


class ChargeRevoked(Exception):
    """The key's charge was refunded before it was ever made (a compensation got there first,
    e.g. after the saga gave up on a slow charge); it must not be made now."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"The charge with idempotency key '{idempotency_key}' was refunded.")


def authorize(payment_token: str) -> None:
    """Approve the charge, or raise CardDeclined saying why."""
    if payment_token == APPROVING_TOKEN:
        return
    reason = DECLINE_REASONS.get(payment_token)
    if reason is None:
        known = ", ".join(TEST_TOKENS)
        reason = f"unknown test token '{payment_token}' (known tokens: {known})"
    raise CardDeclined(reason)


def refund_returns_money(status: ChargeStatus) -> bool:
    """Refunding returns the money exactly once: only while the charge is still CAPTURED."""
    return status is ChargeStatus.CAPTURED
