"""The names of audited actions (AuditEvent.action)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """Every action the audit log records, as "<thing>.<verb>"."""

    WORKFLOW_CREATED = "workflow.created"
    WORKFLOW_EDITED = "workflow.edited"
    WORKFLOW_PUBLISHED = "workflow.published"
    WORKFLOW_RESTORED = "workflow.restored"
    WORKFLOW_DELETED = "workflow.deleted"
    RUN_STARTED = "run.started"
    RUN_CANCELLED = "run.cancelled"
    RUN_RETRIED = "run.retried"
    CREDENTIAL_ADDED = "credential.added"
    CREDENTIAL_UPDATED = "credential.updated"
    CREDENTIAL_ROTATED = "credential.rotated"
    CREDENTIAL_DELETED = "credential.deleted"
    MEMBER_INVITED = "member.invited"
    INVITE_REVOKED = "invite.revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    OWNERSHIP_TRANSFERRED = "team.ownership_transferred"
    TEAM_CREATED = "team.created"
    TEAM_DELETED = "team.deleted"
    TOKEN_CREATED = "token.created"  # noqa: S105 (a name, not a secret)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    EXPORT_DOWNLOADED = "export.downloaded"
    SIGN_IN_FAILED = "auth.sign_in_failed"
