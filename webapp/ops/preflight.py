"""The `make run` preflight: are Postgres and Redis there, and does the database exist?

Failures are one line naming the service, where Quorum looked and how to start
it, raised as PreflightError (never a traceback for the user).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from webapp.ops.checks import check_postgres_server, check_redis, describe_url, first_line


class PreflightError(Exception):
    """A service Quorum needs is missing; the message is one actionable line."""


def maintenance_url(database_url: str) -> tuple[str, str]:
    """(URL of the server's `postgres` database, name of the wanted database)."""
    parts = urlsplit(database_url)
    dbname = parts.path.lstrip("/") or "quorum"
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres")), dbname


def ensure_postgres(database_url: str) -> bool:
    """Check the server answers and create the database if missing.

    Returns True when the database was created. Raises PreflightError.
    """
    admin_url, dbname = maintenance_url(database_url)
    where = describe_url(database_url)
    error = check_postgres_server(admin_url)
    if error is not None:
        raise PreflightError(
            f"Postgres is not reachable at {where} (DATABASE_URL): {error}. "
            "Start it (`pg_ctlcluster 15 main start`, `brew services start postgresql`, "
            "or `docker compose up -d db`) or point DATABASE_URL at a running server."
        )
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return True
    except psycopg.Error as exc:
        raise PreflightError(
            f"Postgres at {where} refused to create database {dbname!r}: {first_line(exc)}. "
            f"Create it yourself (`createdb {dbname}`) or use a role allowed to."
        ) from None


def ensure_redis(redis_url: str) -> None:
    """Check Redis answers PING. Raises PreflightError."""
    error = check_redis(redis_url, timeout_s=2.0)
    if error is not None:
        raise PreflightError(
            f"Redis is not reachable at {describe_url(redis_url)} (REDIS_URL): {error}. "
            "Start it (`redis-server --daemonize yes`, `brew services start redis`, "
            "or `docker compose up -d redis`) or point REDIS_URL at a running server."
        )
