"""The Celery app. Settings come from Django settings with the CELERY_ prefix.

Queues: `io` for steps that wait on the network (LLM, HTTP, tools), `cpu` for the
rest (the default queue). Start a worker for both with
`celery -A webapp worker -Q io,cpu`.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in ("cpu", "io")
)
app.autodiscover_tasks()


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
