"""Encryption at rest for secrets (provider API keys), with key rotation.

Keys: QUORUM_ENCRYPTION_KEYS, a comma-separated list of Fernet keys (generate one
with `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).
The first key encrypts; all keys decrypt, so a new key is added in front, then
`manage.py rotate_keys` re-encrypts every secret with it, then old keys can go.
Without QUORUM_ENCRYPTION_KEYS a key is derived from SECRET_KEY (fine for
development; set explicit keys in production so SECRET_KEY can change).
Uses cryptography's Fernet/MultiFernet (AES-128-CBC + HMAC-SHA256).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys: list[str] = list(settings.ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(("quorum-secrets:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    """The Fernet token (text) of `plaintext`, with the first configured key."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token from `encrypt`. Raises SecretError."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretError("a stored secret cannot be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """`token` re-encrypted with the first key. Raises SecretError."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretError("a stored secret cannot be decrypted with the configured keys") from None
