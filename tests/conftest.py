"""Shared fixtures: the three personas, and a real Celery worker process.

Personas (as in healthchecks' tests): `owner_a` owns team A, `viewer_a` views
team A, `member_b` is an editor of team B only and must never see team A.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from webapp.accounts.models import Membership, Role, Team

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


@dataclass
class Personas:
    team_a: Team
    team_b: Team
    owner_a: User
    viewer_a: User
    member_b: User


@pytest.fixture
def personas(db: None) -> Personas:
    team_a = Team.objects.create(name="Team A", slug="team-a")
    team_b = Team.objects.create(name="Team B", slug="team-b")
    owner_a = User.objects.create_user("owner_a", "owner@a.example", PASSWORD)
    viewer_a = User.objects.create_user("viewer_a", "viewer@a.example", PASSWORD)
    member_b = User.objects.create_user("member_b", "member@b.example", PASSWORD)
    Membership.objects.create(user=owner_a, team=team_a, role=Role.OWNER)
    Membership.objects.create(user=viewer_a, team=team_a, role=Role.VIEWER)
    Membership.objects.create(user=member_b, team=team_b, role=Role.EDITOR)
    return Personas(team_a, team_b, owner_a, viewer_a, member_b)


def client_for(user: User | None) -> Client:
    """A test client signed in as `user` (anonymous when None)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process using the test settings and test database."""
    env = dict(os.environ)
    db_name = settings.DATABASES["default"]["NAME"]
    env.update(
        DJANGO_SETTINGS_MODULE="webapp.test_settings",
        DATABASE_URL=f"postgres://localhost:5432/{db_name}",
        REDIS_URL=settings.REDIS_URL,
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def start_worker(queues: str = "io,cpu", concurrency: int = 16) -> subprocess.Popen[bytes]:
    """Start a real `celery worker` process on the test broker and database and
    wait until it answers a ping. Its steps' leases last 3 s (STEP_LEASE_S)."""
    from webapp.celery import app

    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [
        sys.executable, "-m", "celery", "-A", "webapp", "worker", "--queues", queues,
        "--pool", "threads", "--concurrency", str(concurrency), "--hostname", name,
        "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=subprocess_env(STEP_LEASE_S="3"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early with code {proc.returncode}")
        replies = app.control.ping(timeout=0.5) or []
        if any(name.replace("%h", "") in host for reply in replies for host in reply):
            return proc
    proc.kill()
    raise RuntimeError("celery worker did not answer a ping within 30 s")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class WorkerPool:
    """The session's worker process; a test may replace it (to kill one)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = start_worker()
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            stop_worker(self.proc)
            self.proc = None


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> None:
    """Start from an empty test Redis database (stale cancel flags, queued tasks)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None) -> Iterator[WorkerPool]:
    """A real worker process serving the io and cpu queues for the whole session."""
    pool = WorkerPool()
    pool.start()
    yield pool
    pool.stop()


# The bundled fake OpenAI-compatible LLM server, started once per session.
from tests.fixtures_fakellm import fake_llm  # noqa: E402,F401
