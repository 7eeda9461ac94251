"""WebSocket URL patterns. Each consumer authorises in connect() through
webapp.accounts.permissions, like the views do."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
