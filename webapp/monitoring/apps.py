from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Live run monitoring: WebSocket consumers, run page, runs list, dashboards
    (and the hourly step rollup the dashboards read)."""

    name = "webapp.monitoring"
    label = "monitoring"
