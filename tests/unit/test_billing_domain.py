"""Billing rules: which test token approves, and a charge returns its money once."""

import pytest

from services.billing.domain import (
    TEST_TOKENS,
    CardDeclined,
    ChargeStatus,
    authorize,
    refund_returns_money,
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
