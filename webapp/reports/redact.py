"""Keeping secrets out of every export.

Two layers: keys that name a secret (api_key, password, credential_id, ...) are
dropped from any JSON value before it is written, and the team's own provider
keys (decrypted here only to be searched for) are replaced wherever they occur
in the finished text, so even a key pasted into a prompt never leaves."""

from __future__ import annotations

import re
from typing import Any

from webapp import crypto
from webapp.providers.models import ProviderSetting

SECRET_KEY = re.compile(
    r"^(.*[_-])?(api[_-]?key|secret|secret[_-]?key|password|passwd|authorization|"
    r"credentials?|credential[_-]?ids?|access[_-]?token|auth[_-]?token|bearer|private[_-]?key|"
    r"api_key_encrypted)$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def strip_secrets(value: Any) -> Any:
    """A copy of a JSON value without any mapping key that names a secret
    (see SECRET_KEY); lists and nested objects are walked."""
    if isinstance(value, dict):
        return {
            k: strip_secrets(v) for k, v in value.items() if not SECRET_KEY.match(str(k).strip())
        }
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


def team_secrets(team_id: int) -> list[str]:
    """The team's provider API keys in clear (at least 6 characters; shorter ones
    would match ordinary words). Used only to scrub exports; never written."""
    found = []
    for token in ProviderSetting.objects.filter(team_id=team_id).values_list(
        "api_key_encrypted", flat=True
    ):
        if not token:
            continue
        try:
            secret = crypto.decrypt(token)
        except crypto.SecretError:
            continue  # undecryptable with today's keys: it cannot be in any output either
        if len(secret) >= 6:
            found.append(secret)
    return found


PREFIX = 12  # characters of a secret that count as a leak of it when they appear


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every occurrence of each secret replaced by "[redacted]",
    including a cut-off copy (its first PREFIX or more characters, as a model
    truncating its output would leave)."""
    for secret in secrets:
        head = secret[:PREFIX]
        if head not in text:
            continue
        parts, start = [], 0
        while (found := text.find(head, start)) >= 0:
            end = found + len(head)
            while (
                end < len(text) and end - found < len(secret) and (text[end] == secret[end - found])
            ):
                end += 1
            parts += [text[start:found], REDACTED]
            start = end
        text = "".join(parts) + text[start:]
    return text
