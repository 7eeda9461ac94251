from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from webapp.env import env_bool, env_int, env_list

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "quorum.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://quorum.example.com",
    "DJANGO_SETTINGS_MODULE": "webapp.settings",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the basics: the test settings put their own overrides in os.environ.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_a_production_environment() -> None:
    result = _manage("check", "--deploy", "--fail-level", "DEBUG", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start_and_says_why() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_non_postgres_database_url_is_refused_by_name() -> None:
    result = _manage("check", **{**PRODUCTION, "DATABASE_URL": "sqlite:///x.db"})
    assert result.returncode != 0
    assert "DATABASE_URL must be a postgres:// URL" in result.stderr


def test_env_helpers_parse_and_name_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q_FLAG", "yes")
    monkeypatch.setenv("Q_NUM", "42")
    monkeypatch.setenv("Q_LIST", "a.example, b.example,,")
    assert env_bool("Q_FLAG") is True
    assert env_int("Q_NUM", 1) == 42
    assert env_list("Q_LIST") == ["a.example", "b.example"]
    assert env_bool("Q_UNSET", True) is True
    monkeypatch.setenv("Q_FLAG", "maybe")
    with pytest.raises(ValueError, match="Q_FLAG='maybe' is not a boolean"):
        env_bool("Q_FLAG")
    monkeypatch.setenv("Q_NUM", "many")
    with pytest.raises(ValueError, match="Q_NUM='many' is not an integer"):
        env_int("Q_NUM", 1)
