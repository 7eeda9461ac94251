"""The request an audit record belongs to, kept in a context variable.

AuditContextMiddleware sets it for every HTTP request, so `record()` called deep
inside a do_* service knows the actor, their IP and how they came in without
every service taking a request argument.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the server saw it (REMOTE_ADDR; a trusted proxy
    in front must set it, e.g. uvicorn --proxy-headers)."""
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Makes the current request visible to webapp.audit.record()."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
