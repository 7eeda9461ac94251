"""API tokens: created on the team page (shown once, hashed at rest), used with
Authorization: Bearer, capped by their role ceiling and team, revocable."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import Personas, client_for
from tests.webapp.api.helpers import call, echo_graph
from webapp.accounts.models import ApiToken, Membership
from webapp.audit.models import AuditEvent
from webapp.runs.models import Run

pytestmark = pytest.mark.django_db


def _token(client: Client, role: str = "operator", name: str = "CI") -> str:
    response = client.post(reverse("tokens"), {"name": name, "role": role})
    assert response.status_code == 200, response.content
    match = re.search(r'<code id="token-secret">([^<]+)</code>', response.content.decode())
    assert match
    return match.group(1)


def _bearer(secret: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _published(personas: Personas) -> int:
    owner = client_for(personas.owner_a)
    created = call(owner, "post", "/api/workflows", {"name": "Echo", "graph": echo_graph()})
    call(owner, "post", f"/api/workflows/{created.json()['id']}/versions", {})
    return int(created.json()["id"])


def test_token_is_shown_once_and_stored_hashed(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    secret = _token(client)
    assert secret.startswith("qrm_")
    assert len(secret) > 40
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    listing = client.get(reverse("tokens")).content.decode()
    assert secret not in listing
    assert token.prefix in listing


def test_token_starts_a_run_without_csrf_and_records_use(personas: Personas) -> None:
    workflow_id = _published(personas)
    secret = _token(client_for(personas.owner_a))
    api = Client(enforce_csrf_checks=True)
    response = api.post(
        f"/api/workflows/{workflow_id}/runs",
        {"inputs": {}},
        content_type="application/json",
        REMOTE_ADDR="198.51.100.4",
        **_bearer(secret),
    )
    assert response.status_code == 201, response.content
    assert Run.objects.count() == 1
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    assert token.last_used_ip == "198.51.100.4"
    event = AuditEvent.objects.get(action="run.started")
    assert (event.actor, event.via, event.ip) == (personas.owner_a, "token", "198.51.100.4")


def test_session_api_calls_still_need_csrf(personas: Personas) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.owner_a)
    response = client.post("/api/workflows", {"name": "X"}, content_type="application/json")
    assert response.status_code == 403


def test_role_ceiling_caps_the_token(personas: Personas) -> None:
    workflow_id = _published(personas)
    secret = _token(client_for(personas.owner_a), role="viewer")
    api = Client()
    assert api.get(f"/api/workflows/{workflow_id}", **_bearer(secret)).status_code == 200
    response = api.post(
        f"/api/workflows/{workflow_id}/runs", {}, content_type="application/json", **_bearer(secret)
    )
    assert response.status_code == 403
    assert api.delete(f"/api/workflows/{workflow_id}", **_bearer(secret)).status_code == 403


def test_token_reaches_only_its_team(personas: Personas) -> None:
    workflow_id = _published(personas)
    # member_b becomes an editor of team A too, but mints a token in team B.
    Membership.objects.create(user=personas.member_b, team=personas.team_a, role="editor")
    Membership.objects.filter(user=personas.member_b, team=personas.team_b).update(role="admin")
    client_b = client_for(personas.member_b)
    client_b.post(reverse("switch_team"), {"team": "team-b"})
    secret = _token(client_b, role="editor")
    api = Client()
    assert api.get(f"/api/workflows/{workflow_id}", **_bearer(secret)).status_code == 404
    assert api.get("/api/runs", **_bearer(secret)).json() == []


def test_ceiling_cannot_exceed_own_role_and_bad_input_is_clear(personas: Personas) -> None:
    Membership.objects.filter(user=personas.viewer_a).update(role="admin")
    client = client_for(personas.viewer_a)
    response = client.post(reverse("tokens"), {"name": "x", "role": "owner"})
    assert response.status_code == 400
    assert "cannot be above yours" in response.content.decode()
    response = client.post(reverse("tokens"), {"name": "", "role": "viewer"})
    assert response.status_code == 400
    assert "needs a name" in response.content.decode()


def test_viewer_may_not_manage_tokens(personas: Personas) -> None:
    assert client_for(personas.viewer_a).get(reverse("tokens")).status_code == 403


def test_revoked_or_unknown_token_is_401(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    secret = _token(client)
    token = ApiToken.objects.get()
    assert Client().get("/api/runs", **_bearer(secret)).status_code == 200
    client.post(reverse("token_revoke", args=[token.pk]))
    assert Client().get("/api/runs", **_bearer(secret)).status_code == 401
    assert Client().get("/api/runs", **_bearer("qrm_nonsense")).status_code == 401
    actions = list(AuditEvent.objects.values_list("action", flat=True).order_by("id"))
    assert actions[-2:] == ["token.created", "token.revoked"]


def test_removed_member_token_stops_working(personas: Personas) -> None:
    Membership.objects.filter(user=personas.viewer_a).update(role="admin")
    secret = _token(client_for(personas.viewer_a), role="viewer")
    viewer_m = Membership.objects.get(user=personas.viewer_a)
    client_for(personas.owner_a).post(reverse("member_remove", args=[viewer_m.pk]))
    assert Client().get("/api/runs", **_bearer(secret)).status_code == 401


def test_other_teams_token_is_404_to_revoke(personas: Personas) -> None:
    _token(client_for(personas.owner_a))
    token = ApiToken.objects.get()
    Membership.objects.filter(user=personas.member_b).update(role="owner")
    response = client_for(personas.member_b).post(reverse("token_revoke", args=[token.pk]))
    assert response.status_code == 404


def test_no_credentials_is_401_even_without_csrf(personas: Personas) -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/api/workflows", {"name": "X"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert "API token" in response.json()["detail"]


def test_openapi_schema_with_a_token(personas: Personas) -> None:
    secret = _token(client_for(personas.owner_a))
    response = Client().get("/api/schema/", **_bearer(secret))
    assert response.status_code == 200
    schema = response.json()
    assert "/api/workflows/{workflow_id}/runs" in schema["paths"]
    assert "TokenAuth" in schema["components"]["securitySchemes"]
    assert Client().get("/api/schema/", **_bearer("qrm_wrong")).status_code == 302
