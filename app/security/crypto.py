"""Field encryption with AES-GCM.

Stored form: ``<key id>:<base64url(nonce || ciphertext+tag)>``. Each write uses a fresh
96-bit nonce. The associated data binds a ciphertext to its account, column and row, so a
value copied into another row, column or account fails to decrypt instead of being misread.
Several keys may be configured: the first encrypts, all decrypt; ``roster keys rotate``
re-encrypts everything under the first.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyringError(ValueError):
    pass


class DecryptionError(Exception):
    pass


def _b64decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass(frozen=True)
class Keyring:
    primary: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            kid, sep, material = part.partition(":")
            if not sep or not kid or not kid.isalnum():
                raise KeyringError("each encryption key must look like 'kid:base64key'")
            try:
                key = _b64decode(material)
            except ValueError as exc:
                raise KeyringError(f"key {kid!r} is not valid base64") from exc
            if len(key) != 32:
                raise KeyringError(f"key {kid!r} must be 32 bytes (AES-256)")
            if kid in keys:
                raise KeyringError(f"key id {kid!r} appears twice")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise KeyringError("at least one encryption key is required")
        return cls(primary=order[0], keys=keys)

    @staticmethod
    def generate_key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.primary]).encrypt(
            nonce, plaintext.encode("utf-8"), associated_data.encode("utf-8")
        )
        return f"{self.primary}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, stored: str, associated_data: str) -> str:
        kid, _, payload = stored.partition(":")
        key = self.keys.get(kid)
        if key is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        raw = _b64decode(payload)
        try:
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], associated_data.encode("utf-8"))
        except Exception as exc:  # InvalidTag and malformed input alike
            raise DecryptionError("ciphertext does not verify") from exc
        return plain.decode("utf-8")

    def key_id_of(self, stored: str) -> str:
        return stored.partition(":")[0]
