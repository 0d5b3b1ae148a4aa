"""Payload encryption: sealed payloads hide their content, name their key, and open with any
configured key; plaintext payloads from before encryption pass through."""

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from common.payload_keys import PayloadKeyError, new_key_entry, parse_keys
from orchestrator.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
)
from orchestrator.config import OrchestratorSettings
from orchestrator.temporal import data_converter
from workflows.contracts import NewStudent

STUDENT = NewStudent(
    student_id="stu-1",
    name="Ada Lovelace",
    email="ada@example.com",
    course_id="CS101",
    payment_token="tok_visa",
)


def plain_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([STUDENT])[0]


async def test_a_sealed_payload_hides_the_content_and_names_its_key() -> None:
    codec = EncryptionCodec(parse_keys(new_key_entry("k1")))

    [sealed] = await codec.encode([plain_payload()])

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"Ada Lovelace" not in sealed.SerializeToString()
    assert b"ada@example.com" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain_payload()]


async def test_after_a_rotation_new_payloads_use_the_new_key_and_old_ones_still_open() -> None:
    old = new_key_entry("2026-05")
    [sealed_before] = await EncryptionCodec(parse_keys(old)).encode([plain_payload()])
    rotated = EncryptionCodec(parse_keys(f"{new_key_entry('2026-11')},{old}"))

    [sealed_after] = await rotated.encode([plain_payload()])

    assert sealed_after.metadata[KEY_ID_METADATA] == b"2026-11"
    assert await rotated.decode([sealed_before, sealed_after]) == [plain_payload()] * 2


async def test_a_payload_sealed_with_a_key_no_longer_configured_is_refused() -> None:
    [sealed] = await EncryptionCodec(parse_keys(new_key_entry("retired"))).encode([plain_payload()])

    with pytest.raises(PayloadKeyError, match="'retired', which is not configured"):
        await EncryptionCodec(parse_keys(new_key_entry("current"))).decode([sealed])


async def test_a_key_replaced_under_the_same_id_or_an_altered_payload_is_refused() -> None:
    [sealed] = await EncryptionCodec(parse_keys(new_key_entry("k1"))).encode([plain_payload()])
    other_key_same_id = EncryptionCodec(parse_keys(new_key_entry("k1")))

    with pytest.raises(PayloadKeyError, match="does not open"):
        await other_key_same_id.decode([sealed])


async def test_relabelling_a_payload_to_another_key_id_is_refused() -> None:
    shared = new_key_entry("a").partition(":")[2]
    codec = EncryptionCodec(parse_keys(f"a:{shared},b:{shared}"))
    [sealed] = await codec.encode([plain_payload()])
    sealed.metadata[KEY_ID_METADATA] = b"b"

    with pytest.raises(PayloadKeyError, match="does not open"):
        await codec.decode([sealed])


async def test_plaintext_payloads_recorded_before_encryption_pass_through() -> None:
    codec = EncryptionCodec(parse_keys(new_key_entry("k1")))

    assert await codec.decode([plain_payload()]) == [plain_payload()]


@pytest.mark.parametrize(
    "setting",
    ["", "no-separator", "k1:not base64!", "k1:c2hvcnQ=", "bad id:" + "A" * 44],
)
def test_malformed_payload_keys_are_refused(setting: str) -> None:
    with pytest.raises(PayloadKeyError):
        parse_keys(setting)


def test_a_key_id_listed_twice_is_refused() -> None:
    with pytest.raises(PayloadKeyError, match="twice"):
        parse_keys(f"{new_key_entry('k1')},{new_key_entry('k1')}")


def test_production_refuses_to_start_without_payload_keys() -> None:
    with pytest.raises(ValidationError, match="PAYLOAD_KEYS is required"):
        OrchestratorSettings(environment="production", payload_keys=None)


def test_settings_refuse_malformed_payload_keys_at_startup() -> None:
    with pytest.raises(ValidationError, match="key-id:base64-key"):
        OrchestratorSettings(payload_keys="not-a-key")


def test_development_without_keys_stores_plaintext_and_with_keys_encrypts() -> None:
    assert data_converter(None) is pydantic_data_converter
    keys = OrchestratorSettings(payload_keys=new_key_entry("k1")).parsed_payload_keys()
    assert isinstance(data_converter(keys).payload_codec, EncryptionCodec)
