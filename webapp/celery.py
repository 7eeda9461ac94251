"""The Celery app. Settings come from Django settings with the CELERY_ prefix.

Queues: `io` for steps that wait on the network (LLM, HTTP, tools), `cpu` for the
rest (the default queue). Start a worker for both with
`celery -A webapp worker -Q io,cpu`.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_init, worker_process_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
KINDS = ("cpu", "io")


def shard_queue(kind: str, team_id: int) -> str:
    """The queue a team's `kind` ("io"/"cpu") steps go to: `<kind>.<team id mod
    QUEUE_SHARDS>`. A worker started with `--queues io` consumes io and every
    io.N (see _consume_shards), and kombu's Redis transport polls the queues it
    consumes round robin, so a team flooding its shard does not delay another
    team's (teams share a shard only when their ids are equal mod QUEUE_SHARDS)."""
    from django.conf import settings

    return f"{kind}.{team_id % settings.QUEUE_SHARDS}"


def _queue_names() -> list[str]:
    from django.conf import settings

    shards = [f"{kind}.{n}" for kind in KINDS for n in range(settings.QUEUE_SHARDS)]
    return [*KINDS, *shards]


app.conf.task_queues = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in _queue_names()
)
app.autodiscover_tasks()


@celeryd_after_setup.connect
def _consume_shards(sender: str, instance: Any, **kwargs: object) -> None:
    """`--queues io` means the io queue and all its shards (io.0 ...)."""
    from django.conf import settings

    queues = instance.app.amqp.queues
    for kind in KINDS:
        if kind in queues.consume_from:
            for n in range(settings.QUEUE_SHARDS):
                queues.select_add(queues[f"{kind}.{n}"])


@worker_init.connect
def _check_settings(**kwargs: object) -> None:
    """Refuse to start a worker whose broker settings could deliver steps twice."""
    from webapp.runs.checks import visibility_problem

    problem = visibility_problem()
    if problem:
        raise RuntimeError(problem)


@worker_init.connect
@worker_process_init.connect
def _warm_up(**kwargs: object) -> None:
    """Import the provider SDKs before the first step (see providers.warm_up)."""
    from orchestration.providers import warm_up

    warm_up()
