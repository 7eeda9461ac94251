"""Add or change a team's LLM provider from the command line.

    python manage.py configure_provider --team demo --name OpenAI --kind openai \
        --base-url https://api.openai.com/v1 --api-key-env OPENAI_API_KEY \
        --models gpt-4o-mini,gpt-4o --pricing-provider openai

The API key is read from an environment variable (never from the command line,
which shell history and `ps` would keep) and stored encrypted. It is never
printed again.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.models import Team
from webapp.providers.models import ProviderKind
from webapp.providers.services import do_save_provider


def parse_prices(raw: str) -> dict[str, dict[str, str]]:
    """'model=in/out,model2=in/out' (USD per million tokens) -> price_overrides."""
    prices: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        model, sep, pair = part.partition("=")
        price_in, slash, price_out = pair.partition("/")
        try:
            if not (sep and slash and model):
                raise InvalidOperation
            values = [Decimal(price_in), Decimal(price_out)]
        except InvalidOperation:
            raise CommandError(
                f"--prices {part!r}: expected model=INPUT/OUTPUT in USD per million tokens"
            ) from None
        if any(v < 0 for v in values):
            raise CommandError(f"--prices {part!r}: prices cannot be negative")
        prices[model] = {"input_per_mtok": price_in, "output_per_mtok": price_out}
    return prices


class Command(BaseCommand):
    help = "Add or change a team's LLM provider (the API key comes from an environment variable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", required=True, help="team slug")
        parser.add_argument("--name", required=True, help='provider name, e.g. "OpenAI"')
        parser.add_argument("--kind", choices=[k.value for k in ProviderKind], default="openai")
        parser.add_argument("--base-url", default="", help="OpenAI-compatible or Anthropic URL")
        parser.add_argument("--api-key-env", default="", help="environment variable with the key")
        parser.add_argument("--models", default="", help="comma-separated model names")
        parser.add_argument("--pricing-provider", default="", help="genai-prices provider id")
        parser.add_argument("--prices", default="", help="model=IN/OUT USD per 1M tokens, ...")
        parser.add_argument("--max-concurrency", type=int, default=16)

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"no team with slug {options['team']!r}")
        api_key = None
        if options["api_key_env"]:
            api_key = os.environ.get(options["api_key_env"])
            if not api_key:
                raise CommandError(f"environment variable {options['api_key_env']} is empty")
        fields: dict[str, Any] = {
            "base_url": options["base_url"],
            "model_names": [m.strip() for m in options["models"].split(",") if m.strip()],
            "pricing_provider_id": options["pricing_provider"],
            "max_concurrency": options["max_concurrency"],
        }
        if options["prices"]:
            fields["price_overrides"] = parse_prices(options["prices"])
        try:
            setting = do_save_provider(
                team, options["name"], kind=options["kind"], api_key=api_key, **fields
            )
        except ValidationError as exc:
            raise CommandError(json.dumps(exc.message_dict)) from None
        key = "stored encrypted" if setting.api_key_encrypted else "none"
        self.stdout.write(
            f"Provider {setting.name!r} saved for team {team.slug}: {setting.kind}, "
            f"{setting.base_url or 'default URL'}, models {', '.join(setting.model_names) or '-'},"
            f" API key {key}."
        )
