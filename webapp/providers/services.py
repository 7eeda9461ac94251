"""Provider settings -> engine ProviderConfig (credentials decrypted only here)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from orchestration.providers.base import ModelPrice, ProviderConfig
from webapp import audit, crypto
from webapp.accounts.models import Team
from webapp.providers.models import ProviderKind, ProviderSetting

SIMULATOR = "Simulator"
# Demo prices for the Simulator's models (USD per million tokens), so the demo
# shows costs; they are labelled simulated like everything the Simulator makes.
SIMULATOR_PRICES = {
    "sim-small": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"},
    "sim-large": {"input_per_mtok": "2.50", "output_per_mtok": "10.00"},
}


def to_config(setting: ProviderSetting) -> ProviderConfig:
    """The engine's ProviderConfig, with the API key decrypted.

    Raises crypto.SecretError when the stored key cannot be decrypted."""
    api_key = crypto.decrypt(setting.api_key_encrypted) if setting.api_key_encrypted else None
    return ProviderConfig(
        name=setting.name,
        kind=setting.kind,  # type: ignore[arg-type]
        base_url=setting.base_url or None,
        api_key=api_key,
        models=tuple(setting.model_names),
        pricing_provider_id=setting.pricing_provider_id or None,
        price_overrides=_prices(setting.price_overrides),
        max_concurrency=setting.max_concurrency,
        timeout_s=setting.timeout_s,
        max_retries=setting.max_retries,
        simulated=setting.simulated,
    )


def _prices(raw: dict[str, Any]) -> dict[str, ModelPrice]:
    prices = {}
    for model, price in (raw or {}).items():
        try:
            prices[model] = ModelPrice(
                Decimal(str(price["input_per_mtok"])), Decimal(str(price["output_per_mtok"]))
            )
        except (KeyError, TypeError, InvalidOperation):
            continue  # refused on save; ignore a hand-edited bad row rather than fail runs
    return prices


def team_provider_configs(team_id: int) -> dict[str, ProviderConfig]:
    """{provider name: ProviderConfig} of a team."""
    return {s.name: to_config(s) for s in ProviderSetting.objects.filter(team_id=team_id)}


@transaction.atomic
def do_save_provider(
    team: Team, name: str, *, kind: str, api_key: str | None = None, **fields: Any
) -> ProviderSetting:
    """Create or update a team's provider; `api_key` (if given) is encrypted."""
    setting, created = ProviderSetting.objects.get_or_create(
        team=team, name=name, defaults={"kind": kind}
    )
    setting.kind = kind
    for field, value in fields.items():
        setattr(setting, field, value)
    if api_key is not None:
        setting.api_key_encrypted = crypto.encrypt(api_key) if api_key else ""
    setting.full_clean(exclude=["team"])
    setting.save()
    audit.record(team, _credential_action(created, api_key), target=setting, detail={"kind": kind})
    return setting


def _credential_action(created: bool, api_key: str | None) -> audit.AuditAction:
    if created:
        return audit.AuditAction.CREDENTIAL_ADDED
    if api_key is not None:
        return audit.AuditAction.CREDENTIAL_ROTATED
    return audit.AuditAction.CREDENTIAL_UPDATED


def ensure_simulator(team: Team) -> ProviderSetting:
    """Give `team` the Simulator provider (the bundled fake server) if it has none."""
    existing = ProviderSetting.objects.filter(team=team, name=SIMULATOR).first()
    if existing:
        return existing
    return do_save_provider(
        team,
        SIMULATOR,
        kind=ProviderKind.OPENAI,
        base_url=settings.SIMULATOR_URL,
        model_names=list(SIMULATOR_PRICES),
        price_overrides=SIMULATOR_PRICES,
        simulated=True,
        max_concurrency=2000,
    )
