"""Template context from the engine: the current team's budget state (base.html
shows a warning at 80 % and says what stops at 100 %)."""

from __future__ import annotations

from django.http import HttpRequest

from webapp.runs.models import TeamQuota
from webapp.runs.quotas import BudgetState, budget_state


def budget(request: HttpRequest) -> dict[str, BudgetState | None]:
    """{"budget": BudgetState or None} for the request's current team."""
    team = getattr(request, "team", None)
    quota = TeamQuota.objects.filter(team=team).first() if team is not None else None
    return {"budget": budget_state(quota) if quota is not None else None}
