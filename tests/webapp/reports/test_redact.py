"""Secret scrubbing: whole keys, cut-off keys, and keys named like secrets."""

from __future__ import annotations

from webapp.reports.redact import scrub, strip_secrets

KEY = "sk-live-REPORTS-DO-NOT-LEAK-4242"


def test_scrub_whole_and_cut_off_copies() -> None:
    text = f"a {KEY} b {KEY[:-3]} c sk-live-RE d {KEY}{KEY}"
    out = scrub(text, [KEY])
    assert out == "a [redacted] b [redacted] c sk-live-RE d [redacted][redacted]"
    assert scrub("nothing here", [KEY]) == "nothing here"


def test_strip_secrets_by_key_name() -> None:
    value = {
        "config": {"api_key": "x", "model": "m", "credential_id": 3, "tokens_in": 5},
        "list": [{"Authorization": "Bearer y", "prompt": "p"}],
        "password": "z",
    }
    assert strip_secrets(value) == {
        "config": {"model": "m", "tokens_in": 5},
        "list": [{"prompt": "p"}],
    }
