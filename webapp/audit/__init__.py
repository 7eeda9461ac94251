"""The audit log. Call `record(...)` from any do_* service or view:

    from webapp import audit
    audit.record(team, audit.AuditAction.WORKFLOW_PUBLISHED, target=version.workflow,
                 detail={"version": version.number})

See `webapp.audit.services.record` for the full signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webapp.audit.actions import AuditAction

if TYPE_CHECKING:
    from webapp.audit.models import AuditEvent

__all__ = ["AuditAction", "record"]


def record(*args: Any, **kwargs: Any) -> AuditEvent:
    """Append one audit event; see webapp.audit.services.record for the signature."""
    from webapp.audit.services import record as _record

    return _record(*args, **kwargs)
