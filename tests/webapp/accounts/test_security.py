"""Security baseline: sign-in throttling, the CSP header, check --deploy clean."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, ROOT, Personas, subprocess_env

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle() -> None:
    cache.clear()


def _sign_in(password: str, ip: str = "192.0.2.10", username: str = "owner_a") -> int:
    response = Client().post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )
    return response.status_code


def test_five_failures_lock_that_username_from_that_address(personas: Personas) -> None:
    for _ in range(5):
        assert _sign_in("wrong") == 200
    response = Client().post(
        reverse("login"), {"username": "owner_a", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10"
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    # Another address, or another username from this address, is not locked.
    assert _sign_in(PASSWORD, ip="192.0.2.99") == 302
    assert _sign_in(PASSWORD, username="viewer_a") == 302


def test_a_good_sign_in_clears_earlier_failures(personas: Personas) -> None:
    for _ in range(4):
        _sign_in("wrong")
    assert _sign_in(PASSWORD) == 302
    for _ in range(4):
        assert _sign_in("wrong") == 200
    assert _sign_in(PASSWORD) == 302


def test_every_response_has_a_strict_content_security_policy(personas: Personas) -> None:
    for path in ("/accounts/login/", "/healthz", "/api/schema/"):
        policy = Client().get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-eval" not in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="quorum.example.com",
    )
    for name in (
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by tests/e2e/conftest.py for the browser tests
    ):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
