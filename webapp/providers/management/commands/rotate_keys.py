"""Re-encrypt every stored secret with the first key of QUORUM_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webapp import crypto
from webapp.providers.models import ProviderSetting


class Command(BaseCommand):
    help = "Re-encrypt provider credentials with the newest key (see docs/operations.md)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for setting in ProviderSetting.objects.select_for_update().exclude(
                api_key_encrypted=""
            ):
                try:
                    setting.api_key_encrypted = crypto.rotate(setting.api_key_encrypted)
                except crypto.SecretError as exc:
                    raise CommandError(
                        f"provider {setting.name!r} of team {setting.team_id}: {exc}; "
                        "nothing was changed"
                    ) from None
                setting.save(update_fields=["api_key_encrypted", "updated_at"])
                count += 1
        self.stdout.write(f"Re-encrypted {count} credential{'s' if count != 1 else ''}.")
