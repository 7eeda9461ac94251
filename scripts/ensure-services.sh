#!/usr/bin/env bash
# Make sure Postgres and Redis answer on their standard local ports, starting
# them when they are installed here but not running. Used by `make test`.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" "$2" && return 0; sleep 0.2; done
  return 1
}

if ! port_open 127.0.0.1 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    echo "Starting Postgres $version (pg_ctlcluster)..."
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  elif command -v pg_ctl >/dev/null 2>&1 && [ -n "${PGDATA:-}" ]; then
    pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" start || true
  fi
  wait_port 127.0.0.1 5432 || {
    echo "Postgres is not reachable at 127.0.0.1:5432 and could not be started here; start it (or 'docker compose up -d db')." >&2
    exit 1
  }
fi

if ! port_open 127.0.0.1 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Starting Redis (redis-server --daemonize yes)..."
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  fi
  wait_port 127.0.0.1 6379 || {
    echo "Redis is not reachable at 127.0.0.1:6379 and could not be started here; start it (or 'docker compose up -d redis')." >&2
    exit 1
  }
fi
