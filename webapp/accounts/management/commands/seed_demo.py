"""Create the demo team and demo user if they are missing (idempotent)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from webapp.accounts.models import Membership, Role, Team

DEMO_USERNAME = "demo"
DEMO_TEAM_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo team and an owner account for it; prints the password once."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        with transaction.atomic():
            team, _ = Team.objects.get_or_create(
                slug=DEMO_TEAM_SLUG, defaults={"name": "Demo team"}
            )
            user = User.objects.filter(username=DEMO_USERNAME).first()
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    DEMO_USERNAME, email="demo@example.com", password=password
                )
            Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.OWNER})
        if password:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo account created: username {DEMO_USERNAME}  password {password}"
                )
            )
            self.stdout.write("  (shown this once; `make demo-password` sets a new one)")
        else:
            self.stdout.write(
                f"Demo account: username {DEMO_USERNAME} (password shown when it was created; "
                "`make demo-password` sets a new one)"
            )
