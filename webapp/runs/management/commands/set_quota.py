"""`manage.py set_quota --team <slug> [--max-concurrent-runs N]
[--monthly-budget-usd X | --no-budget]`: a team's limits (webapp/runs/quotas.py)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.models import Team
from webapp.runs import quotas


class Command(BaseCommand):
    help = "Set a team's concurrent-run limit (0 = none) and monthly cost budget (USD)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", required=True, help="team slug")
        parser.add_argument("--max-concurrent-runs", type=int, default=None)
        parser.add_argument("--monthly-budget-usd", default=None)
        parser.add_argument("--no-budget", action="store_true", help="remove the budget")

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"no team with slug {options['team']!r}")
        budget: Decimal | str | None = "keep"
        if options["no_budget"]:
            budget = None
        elif options["monthly_budget_usd"] is not None:
            try:
                budget = Decimal(options["monthly_budget_usd"])
            except InvalidOperation:
                raise CommandError("--monthly-budget-usd must be a number of USD") from None
        try:
            quota = quotas.do_set_quota(
                team.pk,
                max_concurrent_runs=options["max_concurrent_runs"],
                monthly_budget_usd=budget,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        limit = quota.max_concurrent_runs or "no limit"
        money = f"${quota.monthly_budget_usd}" if quota.monthly_budget_usd is not None else "none"
        self.stdout.write(
            f"{team.slug}: concurrent runs {limit}; monthly budget {money}; "
            f"spent this month ${quota.spent_usd:.4f}"
        )
