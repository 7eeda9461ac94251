"""API token pages: list the team's tokens, create one (secret shown once), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp.accounts import services
from webapp.accounts.models import ROLE_ORDER, ApiToken, Role
from webapp.accounts.permissions import Action, get_for, require


@require_http_methods(["GET", "POST"])
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The current team's API tokens; POST (name, role) creates one of yours."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return render(request, "accounts/no_team.html")
    me = require(request.user, team, Action.MANAGE_TOKENS)
    secret, error = None, ""
    if request.method == "POST":
        try:
            issued = services.do_create_token(
                me, request.POST.get("name", ""), request.POST.get("role", "")
            )
        except services.MembershipError as exc:
            error = str(exc)
        else:
            secret = issued.secret
    roles = [r for r in Role if ROLE_ORDER.index(r) >= ROLE_ORDER.index(me.role)]
    listed = ApiToken.objects.select_related("user").filter(team=team, revoked_at__isnull=True)
    return render(
        request,
        "accounts/tokens.html",
        {"team": team, "tokens": listed, "roles": roles, "secret": secret, "error": error},
        status=400 if error else 200,
    )


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke a token of the team."""
    token = get_for(request.user, ApiToken, Action.MANAGE_TOKENS, pk=token_id)
    services.do_revoke_token(token)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("tokens")
