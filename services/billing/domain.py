"""Billing rules, free of any framework: which test card approves, and how refunds add up.

There is no real card processor behind this service; the payment token alone decides:

- `tok_visa` approves the charge;
- `tok_declined` is declined (the card was declined);
- `tok_insufficient_funds` is declined (insufficient funds);
- any other token is declined as unknown, so a typo never turns into a charge.

Refunds. A charge captures `amount_cents` and can hold several refunds; `refunded_cents` is the
sum of those that count (status REFUNDED), and it never exceeds the captured amount:

- a **partial refund** returns part of the money and leaves the charge CAPTURED (it is still
  open: more partial refunds may follow, up to what is left);
- the **full refund** returns what is left (a refund of that amount, none if nothing is left)
  and closes the charge: REFUNDED, `refunded_cents == amount_cents`, final;
- the **reversal** of a partial refund is the undo of a compensatable step (a transfer that
  refunded a price difference and then gave up): the refund's money is taken again, as if
  captured anew. In this fake processor a reversal is a re-capture on the same card, which
  always succeeds; the refund stays on the charge with status REVERSED and no longer counts.
  A reversal is refused once the charge is REFUNDED in full: the charge is closed, and taking
  money back from a card after a full refund is a new charge, not an undo.
"""

from collections.abc import Iterable
from enum import StrEnum


class ChargeStatus(StrEnum):
    CAPTURED = "CAPTURED"
    REFUNDED = "REFUNDED"


class RefundStatus(StrEnum):
    REFUNDED = "REFUNDED"  # the money went back to the card: it counts in refunded_cents
    REVERSED = "REVERSED"  # undone (re-captured): it no longer counts


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


class RefundExceedsCharge(Exception):
    def __init__(self, charge_id: str, requested_cents: int, refundable_cents: int) -> None:
        super().__init__(
            f"A refund of {requested_cents} cents exceeds what is left to refund on charge "
            f"'{charge_id}': {refundable_cents} cents."
        )


class RefundRevoked(Exception):
    """The key's refund was reversed before it was ever made (its compensation got there first,
    after the saga gave up on a slow refund); it must not be made now."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"The refund with idempotency key '{idempotency_key}' was reversed.")


class RefundNotReversible(Exception):
    def __init__(self, idempotency_key: str, charge_id: str) -> None:
        super().__init__(
            f"The refund with idempotency key '{idempotency_key}' cannot be reversed: charge "
            f"'{charge_id}' was refunded in full since."
        )


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
    """The full refund returns the money exactly once: only while the charge is still CAPTURED."""
    return status is ChargeStatus.CAPTURED


def refunded_cents(refunds: Iterable[tuple[int, RefundStatus]]) -> int:
    """The money returned by a charge's refunds, given as (amount_cents, status): reversed
    refunds count nothing."""
    return sum(amount for amount, status in refunds if status is RefundStatus.REFUNDED)


def refundable_cents(status: ChargeStatus, amount_cents: int, refunded: int) -> int:
    """What is left to refund: nothing on a charge closed by its full refund."""
    if status is ChargeStatus.REFUNDED:
        return 0
    return max(amount_cents - refunded, 0)


def check_partial_refund(
    charge_id: str, status: ChargeStatus, amount_cents: int, refunded: int, requested: int
) -> None:
    """Refuse a partial refund that would return more than the charge has left."""
    left = refundable_cents(status, amount_cents, refunded)
    if requested > left:
        raise RefundExceedsCharge(charge_id, requested, left)


def reversal_takes_money(
    idempotency_key: str, charge_id: str, charge: ChargeStatus, refund: RefundStatus
) -> bool:
    """Whether reversing this refund re-captures its money: once (a reversed refund is left
    as it is), and never on a charge refunded in full since (RefundNotReversible)."""
    if refund is RefundStatus.REVERSED:
        return False
    if charge is ChargeStatus.REFUNDED:
        raise RefundNotReversible(idempotency_key, charge_id)
    return True
