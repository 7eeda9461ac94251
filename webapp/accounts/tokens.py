"""Secrets for invite links and API tokens: generated with `secrets`, stored hashed."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "qrm_"  # noqa: S105 (marks a token, not a secret)


def new_secret(prefix: str = "") -> str:
    """A fresh secret: `prefix` + 43 url-safe characters (256 bits of entropy)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of `secret`: what is stored. A slow hash is not needed for a
    256-bit random secret, and a fast one keeps each API request cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()
