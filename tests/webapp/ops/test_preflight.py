from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.conftest import ROOT
from webapp.ops.preflight import PreflightError, ensure_postgres, ensure_redis


def test_unreachable_postgres_is_one_line_naming_it_and_how_to_start_it() -> None:
    with pytest.raises(PreflightError) as info:
        ensure_postgres("postgres://127.0.0.1:5499/quorum")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("Postgres is not reachable at 127.0.0.1:5499")
    assert "Start it" in message


def test_unreachable_redis_is_one_line_naming_it_and_how_to_start_it() -> None:
    with pytest.raises(PreflightError) as info:
        ensure_redis("redis://127.0.0.1:6390/0")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("Redis is not reachable at 127.0.0.1:6390")
    assert "redis-server" in message


def test_missing_database_is_created_once() -> None:
    name = f"quorum_preflight_{uuid.uuid4().hex[:8]}"
    url = f"postgres://localhost:5432/{name}"
    try:
        assert ensure_postgres(url) is True
        assert ensure_postgres(url) is False
        with psycopg.connect(f"postgresql://localhost:5432/{name}") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect("postgresql://localhost:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.mark.parametrize(
    ("variable", "value", "service"),
    [
        ("REDIS_URL", "redis://127.0.0.1:6390/0", "Redis"),
        ("DATABASE_URL", "postgres://127.0.0.1:5499/quorum", "Postgres"),
    ],
)
def test_bootstrap_with_a_service_down_exits_with_one_line(
    variable: str, value: str, service: str
) -> None:
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "webapp.settings", variable: value}
    result = subprocess.run(
        [sys.executable, "manage.py", "bootstrap"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"quorum: {service} is not reachable at 127.0.0.1:")
    assert "Traceback" not in result.stderr + result.stdout
