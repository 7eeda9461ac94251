"""The audit log: who did what, when, and from where, per team."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class AuditEvent(models.Model):
    """One recorded action in a team.

    action: a dotted name such as "workflow.published" (see webapp.audit.AuditAction).
    actor: the user who acted (None for system actions or a since-deleted user);
    actor_name keeps their username even after the user is gone.
    via: "web" (browser session), "api" (session on /api/), "token" (API token,
    token_id in detail), or "system" (workers, commands).
    target_type/target_id/target_repr: what was acted on ("workflow", "42", "Triage").
    detail: small JSON of extra facts (never secrets).
    ip: the client's address as the web server saw it (None outside requests).
    """

    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    team_name = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    via = models.CharField(max_length=16, default="system")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "-created_at"], name="audit_team_created"),
            models.Index(fields=["team", "action"], name="audit_team_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"
