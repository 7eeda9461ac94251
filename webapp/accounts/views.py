"""Team pages: members and roles, invites, leaving, ownership, creating and
deleting teams, switching between teams. API token pages are in views_tokens.py.

Every view checks the caller through webapp.accounts.permissions; the rules that
hold whoever calls (a team always has an owner...) live in the do_* services and
come back as MembershipError, shown as a message (400 for htmx/API-style posts).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.accounts import services
from webapp.accounts.middleware import SESSION_KEY
from webapp.accounts.models import Invite, Membership, Role
from webapp.accounts.permissions import Action, can, get_for, get_team, require


def _current(request: HttpRequest, action: Action) -> Membership | None:
    """The caller's membership in their current team, checked for `action`."""
    team = request.team  # type: ignore[attr-defined]
    if team is None:
        return None
    return require(request.user, team, action)


@require_GET
@login_required
def team_detail(request: HttpRequest) -> HttpResponse:
    """The current team: its members and roles; for admins, role changes,
    removal and invites; for everyone, leaving."""
    membership = _current(request, Action.VIEW)
    if membership is None:
        return render(request, "accounts/no_team.html")
    team = membership.team
    members = Membership.objects.select_related("user").filter(team=team).order_by("user__username")
    manage = can(membership, Action.MANAGE_MEMBERS)
    invites = (
        Invite.objects.filter(team=team, accepted_at__isnull=True, revoked_at__isnull=True)
        if manage
        else Invite.objects.none()
    )
    grantable = [
        r for r in Role if r != Role.OWNER and (r != Role.ADMIN or membership.role == "owner")
    ]
    return render(
        request,
        "accounts/team_detail.html",
        {
            "team": team,
            "members": members,
            "me": membership,
            "manage": manage,
            "is_owner": membership.role == Role.OWNER,
            "invites": invites,
            "grantable": grantable,
            "issued_link": request.session.pop("issued_invite_link", None),
        },
    )


def _fail(request: HttpRequest, error: services.MembershipError) -> HttpResponse:
    messages.error(request, str(error))
    return redirect("team_detail")


@require_POST
@login_required
def invite_create(request: HttpRequest) -> HttpResponse:
    """Create an invite (POST role, optional email); the link is shown once."""
    membership = _current(request, Action.MANAGE_MEMBERS)
    if membership is None:
        return redirect("team_detail")
    try:
        issued = services.do_invite(
            membership.team,
            by=membership,
            role=request.POST.get("role", ""),
            email=request.POST.get("email", ""),
            base_url=f"{request.scheme}://{request.get_host()}",
        )
    except services.MembershipError as error:
        return _fail(request, error)
    link = request.build_absolute_uri(reverse("invite_accept", args=[issued.secret]))
    request.session["issued_invite_link"] = link
    invite = issued.obj
    sent = f" and emailed to {invite.email}" if invite.email else ""
    messages.success(request, f"Invite created{sent}. Copy the link now: it is shown only once.")
    return redirect("team_detail")


@require_POST
@login_required
def invite_revoke(request: HttpRequest, invite_id: int) -> HttpResponse:
    """Revoke an unused invite."""
    invite = get_for(request.user, Invite, Action.MANAGE_MEMBERS, pk=invite_id)
    services.do_revoke_invite(invite)
    messages.success(request, "Invite revoked.")
    return redirect("team_detail")


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, secret: str) -> HttpResponse:
    """The invite link. Signed in: join the team (POST). Anonymous: sign in
    (link with next) or create an account here, which joins at once."""
    invite = services.find_invite(secret)
    if invite is None:
        return render(request, "accounts/invite_invalid.html", status=404)
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                services.do_accept_invite(invite, request.user)
            except services.MembershipError as error:
                messages.error(request, str(error))
                return redirect("home")
            request.session[SESSION_KEY] = invite.team_id
            messages.success(request, f"You joined {invite.team.name} as {invite.role}.")
            return redirect("home")
        return render(request, "accounts/invite_accept.html", {"invite": invite})
    from webapp.accounts.forms import SignUpForm

    form = SignUpForm(request.POST or None, initial={"email": invite.email})
    if request.method == "POST" and form.is_valid():
        user = services.do_sign_up_with_invite(invite, form)
        from django.contrib.auth import login

        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = invite.team_id
        messages.success(request, f"Welcome! You joined {invite.team.name} as {invite.role}.")
        return redirect("home")
    return render(
        request,
        "accounts/invite_accept.html",
        {"invite": invite, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@login_required
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Change a member's role (POST role)."""
    target = get_for(request.user, Membership, Action.MANAGE_MEMBERS, pk=membership_id)
    me = require(request.user, target.team_id, Action.MANAGE_MEMBERS)
    try:
        services.do_change_role(target, request.POST.get("role", ""), by=me)
    except services.MembershipError as error:
        return _fail(request, error)
    messages.success(request, f"{target.user.get_username()} is now {target.role}.")
    return redirect("team_detail")


@require_POST
@login_required
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Remove a member from the team."""
    target = get_for(request.user, Membership, Action.MANAGE_MEMBERS, pk=membership_id)
    me = require(request.user, target.team_id, Action.MANAGE_MEMBERS)
    try:
        services.do_remove_member(target, by=me)
    except services.MembershipError as error:
        return _fail(request, error)
    messages.success(request, f"{target.user.get_username()} was removed.")
    return redirect("team_detail")


@require_POST
@login_required
def team_leave(request: HttpRequest) -> HttpResponse:
    """Leave the current team (refused for its only owner)."""
    membership = _current(request, Action.VIEW)
    if membership is None:
        return redirect("team_detail")
    try:
        services.do_leave(membership)
    except services.MembershipError as error:
        return _fail(request, error)
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left {membership.team.name}.")
    return redirect("home")


@require_POST
@login_required
def team_transfer(request: HttpRequest) -> HttpResponse:
    """Make another member (POST member = membership id) the owner; you become admin."""
    me = _current(request, Action.TRANSFER_OWNERSHIP)
    if me is None:
        return redirect("team_detail")
    to = Membership.objects.filter(team=me.team, pk=_int(request.POST.get("member"))).first()
    if to is None:
        return _fail(request, services.MembershipError("Choose a member of this team."))
    try:
        services.do_transfer_ownership(me.team, by=me, to=to)
    except services.MembershipError as error:
        return _fail(request, error)
    messages.success(request, f"{to.user.get_username()} now owns {me.team.name}.")
    return redirect("team_detail")


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


@require_http_methods(["GET", "POST"])
@login_required
def team_create(request: HttpRequest) -> HttpResponse:
    """Create a team (POST name); you are its owner and it becomes current."""
    error = ""
    if request.method == "POST":
        try:
            team = services.do_create_team(request.user, request.POST.get("name", ""))  # type: ignore[arg-type]
        except services.MembershipError as exc:
            error = str(exc)
        else:
            request.session[SESSION_KEY] = team.pk
            messages.success(request, f"Team {team.name} created.")
            return redirect("team_detail")
    return render(
        request, "accounts/team_create.html", {"error": error}, status=400 if error else 200
    )


@require_POST
@login_required
def team_delete(request: HttpRequest) -> HttpResponse:
    """Delete the current team; POST confirm must repeat the team's slug."""
    me = _current(request, Action.DELETE_TEAM)
    if me is None:
        return redirect("team_detail")
    if request.POST.get("confirm", "").strip() != me.team.slug:
        return _fail(
            request,
            services.MembershipError(f"Type the team's slug ({me.team.slug}) to delete it."),
        )
    name = me.team.name
    services.do_delete_team(me.team, by=request.user)  # type: ignore[arg-type]
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"Team {name} deleted.")
    return redirect("home")


@require_POST
@login_required
def switch_team(request: HttpRequest) -> HttpResponse:
    """Make the team named by POST `team` (a slug) the current one.

    A slug of a team the user is not in is a 404. htmx callers get an
    HX-Redirect; forms get a redirect to `next` (same-site only) or home.
    """
    team = get_team(request.user, Action.VIEW, slug=request.POST.get("team", ""))
    request.session[SESSION_KEY] = team.pk
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("home")
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)
