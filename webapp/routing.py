"""WebSocket URL patterns. Each consumer authorises in connect() through
webapp.accounts.permissions, like the views do (see docs/monitoring.md)."""

from __future__ import annotations

from typing import Any, cast

from django.urls import path

from webapp.monitoring.consumers import RunConsumer, TeamConsumer

# cast: django-stubs types path() for HTTP views; Channels routes ASGI apps with it.
websocket_urlpatterns: list[Any] = [
    path("ws/runs/<int:run_id>/", cast(Any, RunConsumer.as_asgi())),
    path("ws/team/", cast(Any, TeamConsumer.as_asgi())),
]
