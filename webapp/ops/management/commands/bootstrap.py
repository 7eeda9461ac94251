"""Idempotent set-up for `make run`: preflight, create database, migrate, seed demo."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from webapp.ops.preflight import PreflightError, ensure_postgres, ensure_redis


class Command(BaseCommand):
    help = (
        "Check Postgres and Redis, create the database if missing, migrate, and create "
        "the demo team and user. Safe to run any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="", help="URL to print when set-up is done")
        parser.add_argument("--no-demo", action="store_true", help="skip the demo team and user")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = ensure_postgres(settings.DATABASE_URL)
            ensure_redis(settings.REDIS_URL)
        except PreflightError as exc:
            self.stderr.write(self.style.ERROR(f"quorum: {exc}"))
            sys.exit(2)
        if created:
            self.stdout.write("Created the database.")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not options["no_demo"]:
            call_command("seed_demo", stdout=self.stdout)
        if options["url"]:
            self.stdout.write(self.style.SUCCESS(f"Quorum will be at {options['url']}"))
