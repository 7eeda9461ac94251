"""Celery tasks for the raw-Celery baseline of B1 (workers load them with
`--include bench.tasks`; the bench's own workers only).

- `bench.noop`: does nothing; with `key`, pushes the time it ran to that Redis
  list (the last task of a chain signals the end of the chain this way, as the
  project runs Celery without a result backend).
- `bench.relay`: does nothing, then sends itself again with `hops - 1`: one
  message per hop sent by the worker, as the engine sends the next step.
"""

from __future__ import annotations

import os
import time

import redis
from celery import shared_task
from django.conf import settings


def _signal(key: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(key, repr(time.time()))
        client.expire(key, 3600)
    finally:
        client.close()


@shared_task(name="bench.noop", ignore_result=True)
def noop(key: str | None = None) -> None:
    if key:
        _signal(key)


@shared_task(name="bench.relay", ignore_result=True)
def relay(hops: int, key: str, queue: str) -> None:
    if hops <= 1:
        _signal(key)
        return
    relay.apply_async(args=(hops - 1, key, queue), queue=queue)


if os.environ.get("BENCH_TRACE"):  # diagnostics: see bench/trace.py
    from bench import trace

    trace.install(os.environ["BENCH_TRACE"])


@shared_task(name="bench.hold", ignore_result=True, acks_late=True)
def hold(key: str, seconds: float) -> None:
    """Push the time it started to `key`, then sleep `seconds` (holds a pool
    slot as an LLM call would: how fast a worker takes messages in)."""
    _signal(key)
    time.sleep(seconds)
