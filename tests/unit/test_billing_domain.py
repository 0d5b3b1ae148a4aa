"""Billing rules: which test token approves, a charge returns its money once, and refunds
never exceed it."""

import pytest

from services.billing.domain import (
    TEST_TOKENS,
    CardDeclined,
    ChargeStatus,
    RefundExceedsCharge,
    RefundNotReversible,
    RefundStatus,
    authorize,
    check_partial_refund,
    refund_returns_money,
    refundable_cents,
    refunded_cents,
    reversal_takes_money,
)


def test_the_visa_test_token_approves_the_charge() -> None:
    authorize("tok_visa")


@pytest.mark.parametrize(
    ("payment_token", "reason"),
    [
        ("tok_declined", "the card was declined"),
        ("tok_insufficient_funds", "insufficient funds"),
    ],
)
def test_a_declining_test_token_is_declined_with_its_reason(
    payment_token: str, reason: str
) -> None:
    with pytest.raises(CardDeclined) as declined:
        authorize(payment_token)
    assert declined.value.reason == reason
    assert reason in str(declined.value)


def test_an_unknown_token_is_declined_naming_the_tokens_that_exist() -> None:
    with pytest.raises(CardDeclined) as declined:
        authorize("tok_mastercard")
    message = str(declined.value)
    assert "unknown test token 'tok_mastercard'" in message
    assert all(token in message for token in TEST_TOKENS)


def test_token_matching_is_exact() -> None:
    with pytest.raises(CardDeclined):
        authorize("TOK_VISA")


def test_refunding_a_captured_charge_returns_the_money() -> None:
    assert refund_returns_money(ChargeStatus.CAPTURED)


def test_refunding_a_refunded_charge_returns_nothing_more() -> None:
    assert not refund_returns_money(ChargeStatus.REFUNDED)


def test_reversed_refunds_count_nothing_in_what_was_refunded() -> None:
    refunds = [
        (100, RefundStatus.REFUNDED),
        (250, RefundStatus.REVERSED),
        (50, RefundStatus.REFUNDED),
    ]

    assert refunded_cents(refunds) == 150
    assert refunded_cents([]) == 0


def test_what_is_left_to_refund_is_the_amount_less_the_refunds_and_nothing_once_closed() -> None:
    assert refundable_cents(ChargeStatus.CAPTURED, 1_000, 300) == 700
    assert refundable_cents(ChargeStatus.CAPTURED, 1_000, 1_000) == 0
    assert refundable_cents(ChargeStatus.REFUNDED, 1_000, 300) == 0


def test_a_partial_refund_up_to_what_is_left_is_allowed() -> None:
    check_partial_refund("charge-1", ChargeStatus.CAPTURED, 1_000, 300, 700)


@pytest.mark.parametrize(
    ("status", "refunded", "requested", "left"),
    [
        (ChargeStatus.CAPTURED, 300, 701, 700),
        (ChargeStatus.CAPTURED, 1_000, 1, 0),
        (ChargeStatus.REFUNDED, 1_000, 1, 0),
    ],
    ids=["one-cent-too-many", "all-refunded-in-parts", "closed-by-full-refund"],
)
def test_a_partial_refund_beyond_what_is_left_is_refused_saying_what_is_left(
    status: ChargeStatus, refunded: int, requested: int, left: int
) -> None:
    with pytest.raises(RefundExceedsCharge, match=f"{requested} cents exceeds .* {left} cents"):
        check_partial_refund("charge-1", status, 1_000, refunded, requested)


def test_reversing_a_refund_of_an_open_charge_takes_the_money_again() -> None:
    assert reversal_takes_money("key", "charge-1", ChargeStatus.CAPTURED, RefundStatus.REFUNDED)


@pytest.mark.parametrize("charge", list(ChargeStatus))
def test_reversing_a_reversed_refund_takes_nothing_more(charge: ChargeStatus) -> None:
    assert not reversal_takes_money("key", "charge-1", charge, RefundStatus.REVERSED)


def test_a_refund_of_a_charge_refunded_in_full_since_cannot_be_reversed() -> None:
    with pytest.raises(RefundNotReversible, match="'key' cannot be reversed: charge 'charge-1'"):
        reversal_takes_money("key", "charge-1", ChargeStatus.REFUNDED, RefundStatus.REFUNDED)
