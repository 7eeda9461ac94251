"""Every URL pattern is either behind sign-in or on the documented public list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Mirrors the "Routes open without signing in" table of docs/permissions.md.
PUBLIC = {
    "login",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "logout",
    "healthz",
    "readyz",
    "metrics",
}


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def _example_path(route: str) -> str:
    """A concrete path for a route, with a dummy value for each converter."""
    samples: dict[str, Any] = {
        "int": "1",
        "slug": "x",
        "str": "x",
        "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
        "path": "x",
    }
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples[m.group(1) or "str"], route)


def test_every_route_needs_sign_in_unless_public() -> None:
    checked = 0
    for route, pattern in _patterns(get_resolver()):
        if pattern.name in PUBLIC:
            continue
        path = _example_path(route)
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            assert response.status_code in (302, 401, 403, 404, 405), (route, method)
            if response.status_code == 302:
                assert response["Location"].startswith("/accounts/login/"), (route, method)
        checked += 1
    assert checked >= 5
