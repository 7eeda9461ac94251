"""Security baseline: the Content-Security-Policy header and sign-in throttling.

CSP (ContentSecurityPolicyMiddleware): every response that has none gets
`settings.CONTENT_SECURITY_POLICY`. Scripts only from our own origin, never
inline and never eval (htmx is configured without eval in templates/base.html;
the editor bundle, Plotly and Swagger UI are checked in Chromium by
tests/e2e/test_csp.py). See docs/security.md.

Sign-in throttling (ThrottledLoginView): after LOGIN_FAILURE_LIMIT failed
attempts for one username from one address within LOGIN_FAILURE_WINDOW_S
seconds, or LOGIN_FAILURE_LIMIT_PER_IP from one address for any usernames, the
sign-in page answers 429 until the window has passed. Counts live in the cache
(Redis), so they hold across processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from webapp.audit.context import client_ip

DEFAULT_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header to every response without one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or DEFAULT_CSP

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    ip = client_ip(request) or "unknown"
    user_hash = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-fail:{ip}:{user_hash}", f"login-fail-ip:{ip}"


def login_blocked(request: HttpRequest, username: str) -> bool:
    """True when this address has failed too often (for this username, or at all)."""
    user_key, ip_key = _keys(request, username)
    counts = cache.get_many([user_key, ip_key])
    return counts.get(user_key, 0) >= settings.LOGIN_FAILURE_LIMIT or counts.get(
        ip_key, 0
    ) >= getattr(settings, "LOGIN_FAILURE_LIMIT_PER_IP", 50)


def note_login_failure(request: HttpRequest, username: str) -> None:
    """Count one failed sign-in for this address and username."""
    window = settings.LOGIN_FAILURE_WINDOW_S
    for key in _keys(request, username):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def clear_login_failures(request: HttpRequest, username: str) -> None:
    """Forget this username's failures from this address (after a good sign-in)."""
    cache.delete(_keys(request, username)[0])


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView refusing (429) addresses that failed too often."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Check the throttle, then sign in as usual, counting a failure."""
        username = request.POST.get("username", "")
        if login_blocked(request, username):
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                "Too many failed sign-in attempts. Wait "
                f"{settings.LOGIN_FAILURE_WINDOW_S // 60} minutes and try again.",
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: wrong credentials
            note_login_failure(request, username)
        else:
            clear_login_failures(request, username)
        return response
