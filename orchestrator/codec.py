"""Encryption of Temporal payloads, so a saga's personal data never reaches Temporal in plaintext.

Every payload the SDK sends (workflow and activity inputs and results, query answers, memos,
failure messages) is serialized whole and sealed with AES-256-GCM. The sealed payload carries
the id of the key that sealed it in its metadata, so keys can rotate: new payloads are sealed
with the current key, and any configured key opens the payloads it sealed. A key must stay
configured for as long as histories sealed with it can be read (retention of closed runs, plus
the lifetime of open ones).

Payloads without our encoding are passed through unchanged on decode: histories recorded
before encryption was switched on (and the committed replay fixtures) keep replaying. Search
attributes are not payloads the codec sees: they must never hold personal data.

Keys are configured as one string, `key-id:base64-key[,key-id:base64-key...]`, the first being
the current one (see `parse_keys`, `new_key_entry`).
"""

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard; random nonces are safe far beyond this system's volume
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PayloadKeyError(ValueError):
    """The payload keys are malformed, or a payload was sealed with a key not configured."""


@dataclass(frozen=True)
class PayloadKeys:
    """The key that seals new payloads, and every key that may open old ones."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise PayloadKeyError(f"the current key '{self.current_id}' is not among the keys")


def parse_keys(setting: str) -> PayloadKeys:
    """`id:base64key,id:base64key`: the first entry is the current key."""
    keys: dict[str, bytes] = {}
    for entry in (part.strip() for part in setting.split(",")):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not KEY_ID_PATTERN.match(key_id):
            raise PayloadKeyError(
                "payload keys must read 'key-id:base64-key[,key-id:base64-key...]' with ids of "
                "letters, digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise PayloadKeyError(f"payload key id '{key_id}' is listed twice")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise PayloadKeyError(f"payload key '{key_id}' is not valid base64") from error
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(
                f"payload key '{key_id}' must be {KEY_BYTES} bytes, got {len(key)}"
            )
        keys[key_id] = key
    return PayloadKeys(current_id=next(iter(keys)), keys=keys)


def new_key_entry(key_id: str) -> str:
    """A freshly generated key as a `key-id:base64-key` entry, to put first in the setting."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: PayloadKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload) -> Payload:
        key_id = self._keys.current_id
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated data: a payload cannot be relabelled to another key.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption was switched on
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"payload sealed with key '{key_id}', which is not configured")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        except InvalidTag as error:
            raise PayloadKeyError(
                f"payload sealed with key '{key_id}' does not open with the configured key "
                "of that id (altered, or the key was replaced under the same id)"
            ) from error
