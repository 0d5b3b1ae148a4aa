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

The keys are configured as one string, the first being the current one (common/payload_keys.py).
"""

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from common.payload_keys import NONCE_BYTES, PayloadKeyError, PayloadKeys

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"


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
