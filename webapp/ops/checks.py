"""Reachability checks for the services Quorum needs: Postgres, Redis, Celery workers.

Each check returns None when the service answers, or a short reason when it does
not. They are used by `/readyz` and by `manage.py bootstrap` (the `make run`
preflight), and never raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import redis
from django.db import connections


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: `ok`, its latency in ms, and `error` when not ok."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


def describe_url(url: str) -> str:
    """host:port of a service URL, without credentials (for messages)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def check_postgres_server(conninfo: str, timeout_s: float = 3.0) -> str | None:
    """Connect to the server behind `conninfo` (a libpq URL); None when it answers."""
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return first_line(exc)
    return None


def check_redis(url: str, timeout_s: float = 2.0) -> str | None:
    """PING the Redis at `url`; None when it answers PONG."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        return first_line(exc)
    finally:
        client.close()
    return None


def check_database() -> str | None:
    """Run SELECT 1 on Django's default database through its pool."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver or pool error means "not ready"
        return first_line(exc)
    finally:
        connections["default"].close()
    return None


def check_workers(timeout_s: float) -> str | None:
    """Ask the Celery workers to answer a ping; None when at least one does."""
    from webapp.celery import app

    try:
        replies = app.control.ping(timeout=timeout_s, limit=1)
    except Exception as exc:  # broker errors surface as many kombu/redis types
        return first_line(exc)
    return None if replies else f"no Celery worker answered within {timeout_s:g} s"


def run_checks(checks: dict[str, Callable[[], str | None]], timeout_s: float) -> list[CheckResult]:
    """Run `checks` in parallel; a check still running after `timeout_s` fails."""
    results: list[CheckResult] = []
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    started = time.perf_counter()
    futures = {name: pool.submit(_timed, fn) for name, fn in checks.items()}
    try:
        for name, future in futures.items():
            remaining = max(0.0, timeout_s - (time.perf_counter() - started))
            try:
                error, latency_ms = future.result(timeout=remaining)
            except FutureTimeout:
                error, latency_ms = f"no answer within {timeout_s:g} s", timeout_s * 1000
            results.append(CheckResult(name, error is None, round(latency_ms, 1), error))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(fn: Callable[[], str | None]) -> tuple[str | None, float]:
    started = time.perf_counter()
    error = fn()
    return error, (time.perf_counter() - started) * 1000


def first_line(exc: BaseException) -> str:
    """The first line of an exception message, without a trailing period."""
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(exc).__name__
