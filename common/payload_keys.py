"""Payload keys: the AES-256-GCM keys that seal personal data, configured as one string
`key-id:base64-key[,key-id:base64-key...]` whose first entry is the current key.

Temporal's payload codec (orchestrator/codec.py) and the choreography's event sealing
(choreography/sealing.py) both read them; neither depends on the other.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
