"""Create the demo team and demo user if they are missing (idempotent)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from webapp.accounts.models import Membership, Role, Team
from webapp.providers.services import ensure_simulator
from webapp.workflows.examples import load_examples

DEMO_USERNAME = "demo"
DEMO_TEAM_SLUG = "demo"


class Command(BaseCommand):
    help = (
        "Create the demo team, its owner account (password printed once), the Simulator "
        "provider and the example workflows."
    )

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
            ensure_simulator(team)
            examples = load_examples(team)
        self.stdout.write(
            f"Demo team: {len(examples)} example workflows, provider Simulator (simulated LLM)."
        )
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
