"""Teams (organisations), their members and the members' roles.

Every team-owned model carries a `team` foreign key; access to it goes through
webapp.accounts.permissions, never through ad-hoc filters in views.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """A member's role in a team, from most to least powerful.

    What each role may do is the matrix in webapp.accounts.permissions
    (written out in docs/permissions.md).
    """

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


class Team(models.Model):
    """An organisation: it owns workflows, runs, credentials and members."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One user's role in one team. A user may belong to several teams."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_user_team_unique"),
        ]
        ordering = ["team__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


ROLE_ORDER: list[str] = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.OPERATOR, Role.VIEWER]


def lower_role(a: str, b: str) -> str:
    """The less powerful of two roles (Role values)."""
    return a if ROLE_ORDER.index(a) >= ROLE_ORDER.index(b) else b


class Invite(models.Model):
    """An invitation to join a team with a role, by link or by email.

    Only the SHA-256 of the secret in the link is stored (`token_hash`); the link
    is shown once to whoever created it (and emailed when `email` is set). An
    invite is used once, expires at `expires_at`, and can be revoked.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite to {self.team} as {self.role} ({self.email or 'link'})"


class ApiToken(models.Model):
    """A personal API token bound to one team, with a role ceiling.

    The secret ("qrm_" + 43 url-safe characters, 256 bits) is shown once; only its
    SHA-256 (`token_hash`) is stored, plus `prefix` (its first 12 characters) to
    recognise it in lists. Requests made with it act as `user` in `team` with the
    lower of the user's role there and `role` (the ceiling). `last_used_at` and
    `last_used_ip` are updated on use (at most once a minute).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
