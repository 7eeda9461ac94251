"""Start-up checks of the execution settings (Django system checks and worker_init)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from orchestration.nodes.base import NodeConfig


def longest_node_timeout_s() -> float:
    """The largest `timeout_s` a node may be configured with (NodeConfig's bound)."""
    for meta in NodeConfig.model_fields["timeout_s"].metadata:
        if hasattr(meta, "le"):
            return float(meta.le)
    return 3600.0


def visibility_problem() -> str | None:
    """Why the broker's visibility timeout is unsafe, or None.

    With acks_late, Redis redelivers a message not acknowledged within the
    visibility timeout; if that were shorter than a step can legitimately run,
    a healthy step would be delivered twice (harmless for recording, but wasteful).
    """
    visibility = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    needed = longest_node_timeout_s() + settings.STEP_LEASE_S
    if visibility <= needed:
        return (
            f"CELERY_VISIBILITY_TIMEOUT_S is {visibility:g} s; it must exceed the longest node "
            f"timeout plus the step lease ({needed:g} s)"
        )
    return None


@register()
def check_visibility_timeout(app_configs: Any, **kwargs: Any) -> list[Error]:
    problem = visibility_problem()
    return [Error(problem, id="quorum.E001")] if problem else []
