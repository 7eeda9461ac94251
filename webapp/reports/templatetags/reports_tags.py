"""{% can_export user team_id %}: whether to show export links (the views check
the same permission)."""

from __future__ import annotations

from typing import Any

from django import template

from webapp.accounts.permissions import Action, can, membership_for

register = template.Library()


@register.simple_tag
def can_export(user: Any, team_id: int) -> bool:
    """True when `user`'s role in the team allows EXPORT_REPORTS."""
    if not getattr(user, "is_authenticated", False):
        return False
    return can(membership_for(user, team_id), Action.EXPORT_REPORTS)
