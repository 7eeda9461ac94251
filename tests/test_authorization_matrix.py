"""The exhaustive authorisation test (docs/permissions.md).

Every URL pattern and every WebSocket route has an entry in ROUTES / WS_ROUTES
saying what each method needs: an Action of the matrix, SIGNED_IN (any signed-in
user) or PUBLIC. Each is tried as anonymous, each of the five roles of team A and
the owner of team B (the outsider), on team A's object and on team B's object
where the route names one, and compared with webapp.accounts.permissions.MATRIX:

- anonymous: pages redirect to sign-in, the API answers 401, sockets close 4401;
- a role the matrix allows: anything but 401/403/404/405 and never a 5xx;
- a role it does not allow: 403 (sockets 4403);
- another team's object (and the outsider on team A's): 404 (sockets 4404);
- a method a route does not list: 405 (or the anonymous answer).

A route with no entry fails the test. Each request runs in a savepoint that is
rolled back, so every persona meets the same world.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.webapp.api.helpers import echo_graph
from webapp.accounts.models import Membership, Role, Team
from webapp.accounts.permissions import Action, allows
from webapp.accounts.services import do_create_token, do_invite
from webapp.routing import websocket_urlpatterns
from webapp.runs.services import do_start_run
from webapp.workflows.models import Workflow, WorkflowVersion

SIGNED_IN = "signed_in"
PUBLIC = "public"
ABSENT = "absent"  # answers 404 to everyone (django-ninja's bare /api/)
ANON = "anonymous"
OUTSIDER = "outsider"
PERSONAS = [ANON, *[r.value for r in Role], OUTSIDER]
Need = Action | str


@dataclass
class World:
    """Team A's objects (own) and team B's (foreign), by URL kwarg name."""

    own: dict[str, Any] = field(default_factory=dict)
    foreign: dict[str, Any] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


@dataclass(frozen=True)
class Op:
    need: Need
    body: Callable[[dict[str, Any]], Any] | None = None  # from the object kwargs


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 2 and value[0] == "{" and value[-1] == "}"


def _b(**data: Any) -> Callable[[dict[str, Any]], Any]:
    """A body whose "{name}" values are filled from the objects."""

    def build(objs: dict[str, Any]) -> Any:
        return {k: (objs[v[1:-1]] if _placeholder(v) else v) for k, v in data.items()}

    return build


V, E, P = Action.VIEW, Action.EDIT_DRAFT, Action.PUBLISH
# route (as Django prints it) -> {method: Op}
ROUTES: dict[str, dict[str, Op]] = {
    # --- the REST API
    "api/": {m: Op(ABSENT) for m in ("get", "post", "patch", "delete")},
    # django-ninja serves the schema and docs to any method.
    "api/schema/": {m: Op(SIGNED_IN) for m in ("get", "post", "patch", "delete")},
    "api/docs/": {m: Op(SIGNED_IN) for m in ("get", "post", "patch", "delete")},
    "api/node-types": {"get": Op(SIGNED_IN)},
    "api/workflows": {"get": Op(V), "post": Op(E, _b(name="Brand new", graph={}))},
    "api/workflows/import": {"post": Op(E, _b(name="Imported", graph={"nodes": [], "edges": []}))},
    "api/workflows/<workflow_id>": {
        "get": Op(V),
        "patch": Op(E, _b(description="changed")),
        "delete": Op(Action.DELETE_WORKFLOW),
    },
    "api/workflows/<workflow_id>/validate": {"post": Op(V, _b())},
    "api/workflows/<workflow_id>/versions": {"get": Op(V), "post": Op(P, _b(message="v"))},
    "api/editor/catalogue": {"get": Op(V)},
    "api/models": {"get": Op(V)},
    "api/workflows/<workflow_id>/versions/<number>/diff": {"get": Op(V)},
    "api/workflows/<workflow_id>/versions/<number>/restore": {"post": Op(E, _b())},
    "api/workflows/<workflow_id>/export": {"get": Op(V)},
    "api/workflows/<workflow_id>/runs": {"post": Op(Action.START_RUN, _b(inputs={}))},
    "api/runs": {"get": Op(V)},
    "api/runs/<run_id>": {"get": Op(V)},
    "api/runs/<run_id>/cancel": {"post": Op(Action.CANCEL_RUN, _b())},
    "api/quota": {
        "get": Op(Action.VIEW_COSTS),
        "patch": Op(Action.MANAGE_MEMBERS, _b(max_concurrent_runs=5)),
    },
    # --- operations (docs/permissions.md: open without signing in)
    "healthz": {"get": Op(PUBLIC)},
    "readyz": {"get": Op(PUBLIC)},
    "metrics": {"get": Op(PUBLIC)},
    # --- runs and dashboards
    "runs/": {"get": Op(V)},
    "runs/start/": {"post": Op(Action.START_RUN, _b(workflow="{workflow_id}", inputs="{}"))},
    "runs/<int:run_id>/": {"get": Op(V)},
    "runs/<int:run_id>/row/": {"get": Op(V)},
    "runs/<int:run_id>/steps/": {"get": Op(V)},
    "runs/<int:run_id>/timeline/": {"get": Op(V)},
    "runs/<int:run_id>/cancel/": {"post": Op(Action.CANCEL_RUN)},
    "runs/<int:run_id>/retry/": {"post": Op(Action.CANCEL_RUN)},
    "dashboards/": {"get": Op(Action.VIEW_COSTS)},
    "dashboards/queues/": {"get": Op(Action.VIEW_COSTS)},
    "dashboards/<slug:chart>.csv": {"get": Op(Action.VIEW_COSTS)},
    "dashboards/<slug:chart>/": {"get": Op(Action.VIEW_COSTS)},
    # --- reports
    "runs/<int:run_id>/report.<str:fmt>": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/usage/": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/usage/schedule/": {"post": Op(Action.EXPORT_REPORTS, _b(enabled=""))},
    "reports/usage.<str:fmt>": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/dashboard.pdf": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/jobs/<int:job_id>/": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/jobs/<int:job_id>/download": {"get": Op(Action.EXPORT_REPORTS)},
    "reports/workflows/import/": {"get": Op(E), "post": Op(E, _b())},
    "reports/workflows/<int:workflow_id>/export.<str:fmt>": {"get": Op(V)},
    # --- pages and the editor
    "": {"get": Op(SIGNED_IN)},
    "workflows/": {"get": Op(V)},
    "workflows/new": {"post": Op(E, _b(name="From the page"))},
    "workflows/<int:workflow_id>/": {"get": Op(V)},
    "workflows/<int:workflow_id>/versions": {"get": Op(V)},
    "workflows/<int:workflow_id>/versions/<int:number>/restore": {"post": Op(E)},
    # --- signing in
    "accounts/login/": {"get": Op(PUBLIC), "post": Op(PUBLIC)},
    "accounts/logout/": {"post": Op(PUBLIC)},
    "accounts/password_change/": {"get": Op(SIGNED_IN), "post": Op(SIGNED_IN, _b())},
    "accounts/password_change/done/": {"get": Op(SIGNED_IN)},
    "accounts/password_reset/": {"get": Op(PUBLIC), "post": Op(PUBLIC)},
    "accounts/password_reset/done/": {"get": Op(PUBLIC)},
    "accounts/reset/<uidb64>/<token>/": {"get": Op(PUBLIC), "post": Op(PUBLIC)},
    "accounts/reset/done/": {"get": Op(PUBLIC)},
    # --- teams, members, invites, tokens, audit
    "team/": {"get": Op(V)},
    "team/switch/": {"post": Op(V, _b(team="{team_slug}"))},
    "team/new/": {"get": Op(SIGNED_IN), "post": Op(SIGNED_IN, _b(name="Another team"))},
    "team/delete/": {"post": Op(Action.DELETE_TEAM, _b(confirm="{team_slug}"))},
    "team/leave/": {"post": Op(V)},
    "team/transfer/": {"post": Op(Action.TRANSFER_OWNERSHIP, _b(member="{membership_id}"))},
    "team/invites/": {"post": Op(Action.MANAGE_MEMBERS, _b(role="viewer"))},
    "team/invites/<int:invite_id>/revoke/": {"post": Op(Action.MANAGE_MEMBERS)},
    "team/members/<int:membership_id>/role/": {
        "post": Op(Action.MANAGE_MEMBERS, _b(role="operator"))
    },
    "team/members/<int:membership_id>/remove/": {"post": Op(Action.MANAGE_MEMBERS)},
    "team/tokens/": {
        "get": Op(Action.MANAGE_TOKENS),
        "post": Op(Action.MANAGE_TOKENS, _b(name="ci", role="viewer")),
    },
    "team/tokens/<int:token_id>/revoke/": {"post": Op(Action.MANAGE_TOKENS)},
    "invites/<str:secret>/": {"get": Op(PUBLIC), "post": Op(PUBLIC)},
    "audit/": {"get": Op(Action.VIEW_AUDIT)},
    "audit.csv": {"get": Op(Action.VIEW_AUDIT)},
}

WS_ROUTES: dict[str, Need] = {
    "ws/runs/<int:run_id>/": V,
    "ws/team/": V,
}

# URL kwargs that are not objects of a team: the same value for own and foreign.
PLAIN = {"chart": "runs", "fmt": "json", "uidb64": "x", "token": "x", "number": 1}
# Kwargs naming team objects (own = team A's, foreign = team B's).
OBJECT_KWARGS = {"workflow_id", "run_id", "job_id", "invite_id", "membership_id", "token_id"}
# Routes whose form names a team object (tried with team B's too).
# Export jobs are private to whoever asked for them: other members get 404.
CREATOR_ONLY = {"reports/jobs/<int:job_id>/", "reports/jobs/<int:job_id>/download"}
# Slow to render (PDFs): an allowed outcome is tried with the weakest allowed role only.
SLOW = {"reports/dashboard.pdf", "runs/<int:run_id>/report.<str:fmt>", "reports/usage.<str:fmt>"}
TRY_SIGNED_IN = {ANON, Role.VIEWER.value, OUTSIDER}
BODY_NAMES_OBJECT = {"runs/start/", "team/switch/", "team/transfer/"}
API_METHODS = ("get", "post", "patch", "delete")


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            assert isinstance(entry, URLPattern)
            yield prefix + str(entry.pattern)


def _team_world(team: Team, prefix: str, users: dict[str, User]) -> dict[str, Any]:
    owner = users[f"{prefix}owner"]
    workflow = Workflow.objects.create(team=team, name="Echo", draft=echo_graph())
    version = WorkflowVersion.objects.create(
        team=team, workflow=workflow, number=1, graph=echo_graph()
    )
    run = do_start_run(version, {})
    target = User.objects.create_user(f"{prefix}target")
    membership = Membership.objects.create(user=target, team=team, role=Role.VIEWER)
    owner_m = Membership.objects.get(user=owner, team=team)
    invite = do_invite(team, by=owner_m, role=Role.VIEWER).obj
    token = do_create_token(owner_m, "t", Role.VIEWER).obj
    from webapp.reports.models import ExportJob

    job = ExportJob.objects.create(team=team, created_by=owner, kind="run", fmt="json")
    return {
        "workflow_id": workflow.pk,
        "run_id": run.pk,
        "job_id": job.pk,
        "invite_id": invite.pk,
        "membership_id": membership.pk,
        "token_id": token.pk,
        "team_slug": team.slug,
    }


@pytest.fixture
def world(db: None) -> World:
    team_a = Team.objects.create(name="Team A", slug="team-a")
    team_b = Team.objects.create(name="Team B", slug="team-b")
    users: dict[str, User] = {}
    for role in Role:
        users[role.value] = User.objects.create_user(role.value)
        Membership.objects.create(user=users[role.value], team=team_a, role=role)
    users["b-owner"] = users[OUTSIDER] = User.objects.create_user(OUTSIDER)
    Membership.objects.create(user=users[OUTSIDER], team=team_b, role=Role.OWNER)
    users["owner"] = users[Role.OWNER.value]
    return World(_team_world(team_a, "", users), _team_world(team_b, "b-", users), users)


def _path(route: str, objs: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        return str(objs[name] if name in OBJECT_KWARGS else PLAIN[name])

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


def _request(client: Client, method: str, path: str, body: Any) -> Any:
    send = getattr(client, method)
    if path.startswith("/api/") and body is not None:
        return send(path, body, content_type="application/json")
    if method in ("patch", "delete"):
        return send(path)
    return send(path, body) if body is not None else send(path)


def _expected(who: str, need: Need, route: str, names_object: bool, foreign: bool) -> str:
    """One of: login, 403, 404, ok. `foreign`: the objects are team B's."""
    if need == ABSENT:
        return "404"
    if who == ANON:
        return "login"
    if need == SIGNED_IN:
        return "ok"
    if who == OUTSIDER:
        # Team A's objects do not exist for them; team B's are theirs (as owner).
        return "404" if names_object and not foreign else "ok"
    if names_object and foreign:
        return "404"
    if not allows(who, need):  # type: ignore[arg-type]
        return "403"
    return "404" if route in CREATOR_ONLY and who != Role.OWNER else "ok"


def _weakest(need: Need) -> str:
    allowed = [r.value for r in Role if isinstance(need, Action) and allows(r, need)]
    return allowed[-1] if allowed else Role.OWNER.value


def _check(status: int, location: str, expected: str, api: bool) -> bool:
    if expected == "login":
        return status == 401 if api else status == 302 and location.startswith("/accounts/login/")
    if expected == "ok":
        return status < 500 and status not in (401, 403, 404, 405)
    return status == int(expected)


def test_every_route_has_a_matrix_entry() -> None:
    routes = set(_patterns(get_resolver()))
    missing = sorted(routes - set(ROUTES))
    assert not missing, f"routes with no entry in ROUTES: {missing}"
    stale = sorted(set(ROUTES) - routes)
    assert not stale, f"entries for routes that no longer exist: {stale}"
    ws = {str(p.pattern) for p in websocket_urlpatterns}
    assert ws == set(WS_ROUTES), ws ^ set(WS_ROUTES)


def _clients(world: World) -> dict[str, Client]:
    """One client per persona, signed in once (their sessions exist before the
    savepoints, so no request's rollback signs them out)."""
    clients = {}
    for who in PERSONAS:
        clients[who] = Client(raise_request_exception=False)
        if who != ANON:
            clients[who].force_login(world.users[who])
    return clients


def test_every_route_every_persona_every_method(world: World) -> None:
    failures: list[str] = []
    tried = 0
    clients = _clients(world)
    for route in sorted(set(_patterns(get_resolver()))):
        ops = ROUTES[route]
        api = route.startswith("api/") and route not in ("api/schema/", "api/docs/")
        kwargs = set(re.findall(r"<(?:\w+:)?(\w+)>", route))
        names_object = bool(OBJECT_KWARGS & kwargs) or route == "team/switch/"
        body_objects = route in BODY_NAMES_OBJECT
        methods = API_METHODS if route.startswith("api/") else ("get", "post")
        for method in sorted(set(methods) | set(ops)):
            op = ops.get(method)
            if op is not None and op.need == PUBLIC:
                continue
            for foreign in (False, True) if names_object or body_objects else (False,):
                objs = world.foreign if foreign else world.own
                path = _path(route, objs)
                body = op.body(objs) if op and op.body else None
                for who in PERSONAS:
                    if op is None and who not in (ANON, Role.OWNER.value):
                        continue  # an unlisted method: 405 before any permission check
                    if op is not None and op.need == SIGNED_IN and who not in TRY_SIGNED_IN:
                        continue  # any signed-in user: the role plays no part
                    if op is not None and route in SLOW and who not in (ANON, OUTSIDER):
                        expected = _expected(who, op.need, route, names_object, foreign)
                        if expected == "ok" and who != _weakest(op.need):
                            continue
                    with transaction.atomic():
                        response = _request(clients[who], method, path, body)
                        transaction.set_rollback(True)
                    tried += 1
                    status, location = response.status_code, response.get("Location", "")
                    if op is None:
                        ok = status == 405 or (
                            who == ANON and _check(status, location, "login", api)
                        )
                        expected = "405"
                    else:
                        expected = _expected(who, op.need, route, names_object, foreign)
                        ok = _check(status, location, expected, api)
                    if not ok:
                        failures.append(
                            f"{method.upper()} {path} as {who}{' (foreign)' if foreign else ''}: "
                            f"expected {expected}, got {status} {location}"
                        )
    assert tried > 500
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures)


@pytest.mark.django_db(transaction=True)
def test_every_websocket_route_every_persona(world: World) -> None:
    cookies = {who: _session_cookie(world.users[who]) for who in PERSONAS if who != ANON}
    async_to_sync(_websockets)(world, cookies)


async def _websockets(world: World, cookies: dict[str, str]) -> None:
    from webapp.asgi import application

    failures: list[str] = []
    for route, need in WS_ROUTES.items():
        names_object = "run_id" in route
        for foreign in (False, True) if names_object else (False,):
            objs = world.foreign if foreign else world.own
            path = _path(route, objs)
            for who in PERSONAS:
                expected = _expected(who, need, route, names_object, foreign)
                headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
                if who != ANON:
                    headers.append((b"cookie", cookies[who].encode()))
                communicator = WebsocketCommunicator(application, path, headers=headers)
                connected, _ = await communicator.connect(timeout=5)
                got = "ok"
                if connected:
                    output: dict[str, Any] = {}
                    if expected != "ok" or not await communicator.receive_nothing(timeout=0.3):
                        output = await communicator.receive_output(timeout=5)
                    if output.get("type") == "websocket.close":
                        got = CLOSE_CODES.get(int(output.get("code") or 0), str(output))
                else:
                    got = "refused"
                await communicator.disconnect()
                if got != expected:
                    failures.append(f"{path} as {who}: expected {expected}, got {got}")
    assert not failures, "\n".join(failures)


CLOSE_CODES = {4401: "login", 4403: "403", 4404: "404"}


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"
