"""Sealed fields of the choreography's events: they open with the keys that sealed them, for
the student and field they were sealed for only; plaintext (no keys, older events) reads as is."""

import pytest

from choreography.sealing import FieldSealer
from common.payload_keys import PayloadKeyError, new_key_entry, parse_keys

KEYS = parse_keys(new_key_entry("k1"))


def test_a_sealed_value_hides_the_text_and_opens_with_the_keys() -> None:
    sealer = FieldSealer(KEYS)

    sealed = sealer.seal("stu-1", "email", "ada@example.com")

    assert "ada" not in sealed and sealed.startswith("sealed:k1:")
    assert sealer.open("stu-1", "email", sealed) == "ada@example.com"


def test_a_value_moved_to_another_student_or_field_does_not_open() -> None:
    sealer = FieldSealer(KEYS)
    sealed = sealer.seal("stu-1", "payment_token", "tok_visa")

    for student, field in (("stu-2", "payment_token"), ("stu-1", "name")):
        with pytest.raises(PayloadKeyError, match="does not open"):
            sealer.open(student, field, sealed)


def test_a_value_sealed_with_a_key_not_configured_is_refused() -> None:
    sealed = FieldSealer(parse_keys(new_key_entry("other"))).seal("stu-1", "name", "Ada")

    with pytest.raises(PayloadKeyError, match="'other', which is not configured"):
        FieldSealer(KEYS).open("stu-1", "name", sealed)


def test_without_keys_values_stay_plaintext_and_plaintext_opens_as_it_is() -> None:
    assert FieldSealer(None).seal("stu-1", "name", "Ada") == "Ada"
    assert FieldSealer(KEYS).open("stu-1", "name", "Ada") == "Ada"
