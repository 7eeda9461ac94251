"""Provider credentials: encrypted at rest, rotatable, never printed."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.conftest import Personas
from webapp import crypto
from webapp.providers.models import ProviderSetting
from webapp.providers.services import to_config

pytestmark = pytest.mark.django_db

SECRET = "sk-test-0123456789abcdefSECRET"


def _configure(monkeypatch: pytest.MonkeyPatch, **extra: str) -> str:
    monkeypatch.setenv("TEST_PROVIDER_KEY", SECRET)
    out = StringIO()
    call_command(
        "configure_provider", "--team", "team-a", "--name", "OpenAI", "--kind", "openai",
        "--base-url", "https://api.openai.com/v1", "--api-key-env", "TEST_PROVIDER_KEY",
        "--models", "gpt-4o-mini", "--pricing-provider", "openai",
        *[item for pair in extra.items() for item in pair], stdout=out,
    )  # fmt: skip
    return out.getvalue()


def test_key_is_encrypted_at_rest_and_never_printed(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _configure(monkeypatch)
    assert SECRET not in output
    assert "stored encrypted" in output
    setting = ProviderSetting.objects.get(team=personas.team_a, name="OpenAI")
    assert SECRET not in setting.api_key_encrypted
    assert to_config(setting).api_key == SECRET
    assert SECRET not in repr(to_config(setting))


def test_rotate_keys_reencrypts_with_the_new_first_key(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(ENCRYPTION_KEYS=[old]):
        _configure(monkeypatch)
        before = ProviderSetting.objects.get(name="OpenAI").api_key_encrypted
    with override_settings(ENCRYPTION_KEYS=[new, old]):
        out = StringIO()
        call_command("rotate_keys", stdout=out)
        assert "Re-encrypted 1 credential." in out.getvalue()
        after = ProviderSetting.objects.get(name="OpenAI").api_key_encrypted
        assert after != before
    with override_settings(ENCRYPTION_KEYS=[new]):  # the old key can now be dropped
        assert crypto.decrypt(after) == SECRET
    with override_settings(ENCRYPTION_KEYS=[old]), pytest.raises(crypto.SecretError):
        crypto.decrypt(after)


def test_rotate_keys_without_the_old_key_changes_nothing(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, stranger = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(ENCRYPTION_KEYS=[old]):
        _configure(monkeypatch)
    before = ProviderSetting.objects.get(name="OpenAI").api_key_encrypted
    with override_settings(ENCRYPTION_KEYS=[stranger]), pytest.raises(CommandError) as info:
        call_command("rotate_keys")
    assert "nothing was changed" in str(info.value)
    assert ProviderSetting.objects.get(name="OpenAI").api_key_encrypted == before


def test_bad_prices_and_missing_key_are_named(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError, match="expected model=INPUT/OUTPUT"):
        _configure(monkeypatch, **{"--prices": "gpt-4o-mini=cheap"})
    monkeypatch.setenv("EMPTY_KEY", "")
    with pytest.raises(CommandError, match="EMPTY_KEY is empty"):
        call_command(
            "configure_provider", "--team", "team-a", "--name", "X", "--api-key-env", "EMPTY_KEY"
        )
    assert not ProviderSetting.objects.exists()


def test_price_overrides_price_calls(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.providers.pricing import price_call

    _configure(monkeypatch, **{"--prices": "my-llama=1/2"})
    config = to_config(ProviderSetting.objects.get(name="OpenAI"))
    assert str(price_call(config, "my-llama", 1_000_000, 500_000)) == "2"
    assert price_call(config, "unknown-model-xyz", 10, 10) is None
