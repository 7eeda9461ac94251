"""API token authentication: `Authorization: Bearer qrm_...` on /api/.

Tokens are personal, bound to one team and capped by a role ceiling (see
webapp.accounts.models.ApiToken and webapp.accounts.permissions.membership_for).
Only the SHA-256 of a token is stored. Browser requests keep session auth with
CSRF (SignedInSession), tried after this one when no valid Bearer token is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from webapp.accounts.models import ApiToken
from webapp.accounts.tokens import hash_secret
from webapp.audit.context import client_ip

# Writing last_used_at on every request would turn each read into a write.
_TOUCH_EVERY = timedelta(minutes=1)


def authenticate_token(request: HttpRequest, secret: str) -> ApiToken | None:
    """The live token whose secret is `secret`, bound to `request` (request.user,
    request.team, request.membership, request.auth_via = "token"); None when the
    secret is unknown, revoked, or its user is inactive or no longer in the team."""
    token = (
        ApiToken.objects.select_related("user", "team")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    from webapp.accounts.permissions import membership_for

    user: Any = token.user
    user.api_token = token
    membership = membership_for(user, token.team_id)
    if membership is None:
        return None
    now = timezone.now()
    ip = client_ip(request)
    stale = token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY
    if stale or token.last_used_ip != ip:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    request.user = user
    request.team = token.team  # type: ignore[attr-defined]
    request.membership = membership  # type: ignore[attr-defined]
    request.auth_via = "token"  # type: ignore[attr-defined]
    return token


class TokenAuth(HttpBearer):
    """django-ninja auth class for personal API tokens."""

    openapi_description = "A personal API token (Team → API tokens), sent as a Bearer token."

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        """Ninja hook: the ApiToken, or None (then the next auth class is tried)."""
        return authenticate_token(request, token)


class SignedInSession(SessionAuth):
    """ninja's session auth with CSRF, checked only when a session is signed in.

    CSRF guards an ambient credential; without one there is nothing to forge, and
    a request with no credentials should get 401 ("sign in or send a token"),
    not ninja's 403 "CSRF check failed".
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


def signed_in_or_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For /api/schema/ and /api/docs/: a valid Bearer token, or else a signed-in
    session (anonymous browsers are sent to the sign-in page)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and authenticate_token(request, secret.strip()):
            return view(request, *args, **kwargs)
        return login_required(view)(request, *args, **kwargs)

    return wrapped
