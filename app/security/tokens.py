"""Opaque bearer tokens: 32 random bytes shown once, only a SHA-256 digest stored.

A fast digest is right here (unlike passwords): the token has 256 bits of entropy, so
there is nothing to brute-force, and lookups by digest stay an indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
