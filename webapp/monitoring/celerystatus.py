"""Queue depth per Celery queue (from the Redis broker) and workers online (one
`inspect active_queues` broadcast), cached for a few seconds so many open
dashboards cost one broadcast."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)
QUEUES = ("io", "cpu")
CACHE_S = 4
INSPECT_TIMEOUT_S = 1.0


def _depths() -> dict[str, int | None]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
    try:
        # kombu's Redis transport keeps each queue as a list named after it.
        return {queue: int(client.llen(queue)) for queue in QUEUES}
    except redis.RedisError:
        log.warning("could not read queue depths from the broker")
        return dict.fromkeys(QUEUES)
    finally:
        client.close()


def _workers() -> dict[str, list[str]] | None:
    from webapp.celery import app

    try:
        replies = app.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
    except Exception:  # the broker being down must not fail the dashboard
        log.warning("could not inspect the Celery workers")
        return None
    by_queue: dict[str, list[str]] = {queue: [] for queue in QUEUES}
    for worker, queues in sorted(replies.items()):
        for queue in queues or []:
            by_queue.setdefault(queue.get("name", "?"), []).append(worker)
    return by_queue


def celery_status() -> dict[str, Any]:
    """{"queues": [{"queue", "depth" (messages waiting; None if unknown),
    "workers" (count; None if unknown), "names"}], "checked_at" (epoch s)}."""
    cached = cache.get("monitoring:celery_status")
    if cached is not None:
        return dict(cached)
    depths, workers = _depths(), _workers()
    status = {
        "queues": [
            {
                "queue": queue,
                "depth": depths.get(queue),
                "workers": None if workers is None else len(workers.get(queue, [])),
                "names": [] if workers is None else workers.get(queue, []),
            }
            for queue in QUEUES
        ],
        "checked_at": time.time(),
    }
    cache.set("monitoring:celery_status", status, CACHE_S)
    return status
