"""Team life cycle, members, invites and API tokens: every change is a do_* function.

Views check the caller's permission (webapp.accounts.permissions) before calling
these; the rules that hold whatever the caller (a team always has an owner; only
an owner grants or takes away ownership) are enforced here and raise
MembershipError with a sentence saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from webapp import audit
from webapp.accounts.models import ROLE_ORDER, ApiToken, Invite, Membership, Role, Team
from webapp.accounts.tokens import API_TOKEN_PREFIX, hash_secret, new_secret

INVITE_TTL = timedelta(days=7)


class MembershipError(ValueError):
    """A team or membership change that is not allowed, with the reason."""


@dataclass(frozen=True)
class Issued:
    """A freshly created invite or token, with its secret (shown only this once)."""

    obj: Any
    secret: str


@transaction.atomic
def do_create_team(user: User, name: str) -> Team:
    """Create a team owned by `user`; the slug is derived from the name (made
    unique with a numeric suffix). Raises MembershipError for an empty name."""
    name = name.strip()
    if not name:
        raise MembershipError("A team needs a name.")
    if len(name) > 100:
        raise MembershipError("A team name has at most 100 characters.")
    base = slugify(name)[:90] or "team"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    team = Team.objects.create(name=name, slug=slug)
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    audit.record(team, audit.AuditAction.TEAM_CREATED, target=team, actor=user)
    return team


@transaction.atomic
def do_delete_team(team: Team, *, by: User) -> None:
    """Delete a team with everything it owns (workflows, runs, credentials).
    The audit event keeps the team's name; events survive with no team."""
    audit.record(team, audit.AuditAction.TEAM_DELETED, target=team, actor=by)
    team.delete()


def _check_grantable(by: Membership, role: str) -> None:
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    if role == Role.OWNER:
        raise MembershipError("Ownership is given with 'Transfer ownership', not as a role.")
    if by.role != Role.OWNER and role == Role.ADMIN:
        raise MembershipError("Only an owner can make someone an admin.")


@transaction.atomic
def do_invite(
    team: Team, *, by: Membership, role: str, email: str = "", base_url: str = ""
) -> Issued:
    """Create an invite (a one-time link, valid 7 days) to join `team` as `role`.

    With `email`, the link is also sent there. Returns the invite and the secret
    of its link (/invites/<secret>/); only its hash is stored. Raises
    MembershipError for a role the inviter may not grant or an existing member.
    """
    _check_grantable(by, role)
    email = email.strip()
    if email and Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise MembershipError(f"{email} is already a member of {team.name}.")
    secret = new_secret()
    invite = Invite.objects.create(
        team=team,
        email=email,
        role=role,
        token_hash=hash_secret(secret),
        invited_by=by.user,
        expires_at=timezone.now() + INVITE_TTL,
    )
    audit.record(
        team,
        audit.AuditAction.MEMBER_INVITED,
        target=invite,
        target_repr=email or "invite link",
        detail={"role": role, "email": email},
    )
    if email:
        link = f"{base_url}/invites/{secret}/"
        transaction.on_commit(lambda: _send_invite(invite, link))
    return Issued(invite, secret)


def _send_invite(invite: Invite, link: str) -> None:
    inviter = invite.invited_by.get_username() if invite.invited_by else "Someone"
    send_mail(
        f"{inviter} invited you to {invite.team.name} on Quorum",
        f"{inviter} invited you to join the team {invite.team.name} on Quorum as "
        f"{invite.get_role_display().lower()}.\n\nAccept: {link}\n\n"
        f"The link works once and expires on {invite.expires_at:%Y-%m-%d %H:%M} UTC.",
        settings.DEFAULT_FROM_EMAIL,
        [invite.email],
    )


def find_invite(secret: str) -> Invite | None:
    """The usable invite with this link secret (not used, revoked or expired), or None."""
    return (
        Invite.objects.select_related("team", "invited_by")
        .filter(
            token_hash=hash_secret(secret),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


@transaction.atomic
def do_accept_invite(invite: Invite, user: User) -> Membership:
    """Join the invite's team as its role and use the invite up. Raises
    MembershipError when the user is already a member or the invite is used."""
    locked = Invite.objects.select_for_update().get(pk=invite.pk)
    if locked.accepted_at or locked.revoked_at or locked.expires_at <= timezone.now():
        raise MembershipError("This invite has been used, revoked or has expired.")
    if Membership.objects.filter(team_id=locked.team_id, user=user).exists():
        raise MembershipError(f"You are already a member of {invite.team.name}.")
    membership = Membership.objects.create(user=user, team_id=locked.team_id, role=locked.role)
    locked.accepted_by, locked.accepted_at = user, timezone.now()
    locked.save(update_fields=["accepted_by", "accepted_at"])
    audit.record(
        locked.team_id,
        audit.AuditAction.MEMBER_JOINED,
        target=user,
        actor=user,
        detail={"role": locked.role, "invite": locked.pk},
    )
    return membership


@transaction.atomic
def do_sign_up_with_invite(invite: Invite, form: Any) -> User:
    """Create the account of a valid SignUpForm and accept `invite` with it."""
    user: User = form.save()
    do_accept_invite(invite, user)
    return user


@transaction.atomic
def do_revoke_invite(invite: Invite) -> None:
    """Make an unused invite unusable."""
    Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit.record(invite.team_id, audit.AuditAction.INVITE_REVOKED, target=invite)


def _owners(team_id: int) -> int:
    return Membership.objects.filter(team_id=team_id, role=Role.OWNER).count()


def _check_may_manage(by: Membership, target: Membership) -> None:
    if target.role == Role.OWNER and by.role != Role.OWNER:
        raise MembershipError("Only an owner can change or remove an owner.")


@transaction.atomic
def do_change_role(target: Membership, role: str, *, by: Membership) -> Membership:
    """Give `target` a new role. Raises MembershipError when `by` may not grant
    it, may not manage an owner, or when it would leave the team with no owner."""
    Team.objects.select_for_update().filter(pk=target.team_id).first()
    _check_may_manage(by, target)
    if role == Role.OWNER and by.role == Role.OWNER:
        pass  # owners may make co-owners
    else:
        _check_grantable(by, role)
    if target.role == Role.OWNER and role != Role.OWNER and _owners(target.team_id) == 1:
        raise MembershipError("A team always has an owner: transfer ownership first.")
    old = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit.record(
        target.team_id,
        audit.AuditAction.MEMBER_ROLE_CHANGED,
        target=target.user,
        detail={"from": old, "to": role},
    )
    return target


@transaction.atomic
def do_remove_member(target: Membership, *, by: Membership) -> None:
    """Remove `target` from the team (their API tokens for it are revoked).
    Raises MembershipError for the last owner or an owner removed by a non-owner."""
    Team.objects.select_for_update().filter(pk=target.team_id).first()
    _check_may_manage(by, target)
    if target.role == Role.OWNER and _owners(target.team_id) == 1:
        raise MembershipError("A team always has an owner: transfer ownership first.")
    _drop(target)
    action = (
        audit.AuditAction.MEMBER_LEFT
        if target.user_id == by.user_id
        else audit.AuditAction.MEMBER_REMOVED
    )
    audit.record(target.team_id, action, target=target.user, detail={"role": target.role})


def do_leave(membership: Membership) -> None:
    """Leave a team. Raises MembershipError for its only owner."""
    do_remove_member(membership, by=membership)


def _drop(membership: Membership) -> None:
    ApiToken.objects.filter(
        user_id=membership.user_id, team_id=membership.team_id, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    membership.delete()


@transaction.atomic
def do_transfer_ownership(team: Team, *, by: Membership, to: Membership) -> None:
    """Make `to` an owner and `by` (an owner) an admin: the team keeps an owner."""
    Team.objects.select_for_update().filter(pk=team.pk).first()
    if by.role != Role.OWNER:
        raise MembershipError("Only an owner can transfer ownership.")
    if to.team_id != team.pk or to.pk == by.pk:
        raise MembershipError("Choose another member of this team.")
    to.role = Role.OWNER
    to.save(update_fields=["role"])
    by.role = Role.ADMIN
    by.save(update_fields=["role"])
    audit.record(team, audit.AuditAction.OWNERSHIP_TRANSFERRED, target=to.user)


@transaction.atomic
def do_create_token(membership: Membership, name: str, role: str) -> Issued:
    """A personal API token for the member's team with `role` as ceiling (at most
    their own role). Returns the token and its secret, shown once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise MembershipError("A token needs a name of 1 to 100 characters.")
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    if ROLE_ORDER.index(role) < ROLE_ORDER.index(membership.role):
        raise MembershipError(f"A token's role cannot be above yours ({membership.role}).")
    secret = new_secret(API_TOKEN_PREFIX)
    try:
        token = ApiToken.objects.create(
            user=membership.user,
            team_id=membership.team_id,
            name=name,
            role=role,
            prefix=secret[:12],
            token_hash=hash_secret(secret),
        )
    except IntegrityError:  # pragma: no cover - a 256-bit collision
        raise MembershipError("Try again.") from None
    audit.record(
        membership.team_id,
        audit.AuditAction.TOKEN_CREATED,
        target=token,
        actor=membership.user,
        detail={"role": role, "owner": membership.user.get_username()},
    )
    return Issued(token, secret)


@transaction.atomic
def do_revoke_token(token: ApiToken) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit.record(token.team_id, audit.AuditAction.TOKEN_REVOKED, target=token)
