"""Personal data in the choreography's events, sealed: the student's name, email and payment
token travel and rest (broker, outbox, inbox, tracker, dead letters, logs) as AES-256-GCM
ciphertext under the payload keys the orchestrated saga's Temporal payloads use (PAYLOAD_KEYS,
orchestrator/codec.py), so both modes give personal data the same protection.

A sealed field reads `sealed:<key id>:<base64 nonce+ciphertext>`; the student id and the field's
name are authenticated with it, so a value cannot be moved to another student or field. Only who
needs a value opens it: billing the payment token. The API seals; enrollment passes the sealed
token on untouched. Without keys (development only) fields stay plaintext, and a plaintext value
(an event from before sealing) is read as it is.
"""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.payload_keys import NONCE_BYTES, PayloadKeyError, PayloadKeys

PREFIX = "sealed:"


class FieldSealer:
    def __init__(self, keys: PayloadKeys | None) -> None:
        self._keys = keys
        self._ciphers = {} if keys is None else {i: AESGCM(k) for i, k in keys.keys.items()}

    def seal(self, student_id: str, field: str, value: str) -> str:
        if self._keys is None:
            return value
        key_id = self._keys.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, value.encode(), _associated(key_id, student_id, field)
        )
        return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, student_id: str, field: str, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        key_id, _, encoded = value.removeprefix(PREFIX).partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"{field} sealed with key '{key_id}', which is not configured")
        try:
            data = base64.b64decode(encoded, validate=True)
            opened = cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], _associated(key_id, student_id, field)
            )
        except (binascii.Error, InvalidTag) as error:
            raise PayloadKeyError(
                f"{field} sealed with key '{key_id}' does not open (altered, moved to another "
                "student or field, or the key was replaced under the same id)"
            ) from error
        return opened.decode()


def _associated(key_id: str, student_id: str, field: str) -> bytes:
    return f"{key_id}\n{student_id}\n{field}".encode()


def sealed_fields(sealer: FieldSealer, student_id: str, **fields: str) -> dict[str, str]:
    """`fields`, each sealed for this student under its own name."""
    return {name: sealer.seal(student_id, name, value) for name, value in fields.items()}
