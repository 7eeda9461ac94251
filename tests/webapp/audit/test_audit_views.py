"""The audit log page and CSV, and the issue's "done when" story told through it."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, Personas, client_for
from tests.webapp.api.helpers import call, echo_graph
from webapp import audit

pytestmark = pytest.mark.django_db


def test_viewer_and_outsider_cannot_read_the_log(personas: Personas) -> None:
    assert client_for(personas.viewer_a).get(reverse("audit")).status_code == 403
    assert client_for(personas.viewer_a).get(reverse("audit_csv")).status_code == 403
    # member_b reads only team B's log (their current team): nothing of team A.
    audit.record(personas.team_a, "workflow.created", target_repr="Secret plan")
    body = client_for(personas.member_b).get(reverse("audit"))
    assert body.status_code == 403  # an editor of B may not read B's log either


def test_filters_and_bad_filter_is_a_clear_400(personas: Personas) -> None:
    audit.record(personas.team_a, "workflow.created", target_repr="Alpha")
    audit.record(personas.team_a, "run.started", target_repr="Run 1")
    client = client_for(personas.owner_a)
    page = client.get(reverse("audit"), {"action": "run.started"}).content.decode()
    assert "Run 1" in page
    assert "Alpha" not in page
    prefix = client.get(reverse("audit"), {"action": "workflow."}).content.decode()
    assert "Alpha" in prefix
    bad = client.get(reverse("audit"), {"since": "yesterday"})
    assert bad.status_code == 400
    assert "since must be a date" in bad.content.decode()
    assert client.get(reverse("audit_csv"), {"until": "x"}).status_code == 400


def test_csv_export_neutralises_formulas(personas: Personas) -> None:
    audit.record(personas.team_a, "workflow.created", target_repr="=HYPERLINK(1)")
    response = client_for(personas.owner_a).get(reverse("audit_csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:5] == ["time_utc", "actor", "via", "ip", "action"]
    assert rows[1][7] == "'=HYPERLINK(1)"


def test_done_when_invite_viewer_403_token_run_all_in_the_log(personas: Personas) -> None:
    owner = client_for(personas.owner_a)
    created = call(owner, "post", "/api/workflows", {"name": "Echo", "graph": echo_graph()})
    workflow_id = created.json()["id"]
    call(owner, "post", f"/api/workflows/{workflow_id}/versions", {})
    owner.post(reverse("invite_create"), {"role": "viewer", "email": "colleague@a.example"})
    link = re.search(
        r'id="invite-link">[^<]*(/invites/[^<]+)<',
        owner.get(reverse("team_detail")).content.decode(),
    )
    assert link
    colleague = Client()
    colleague.post(
        link.group(1),
        {
            "username": "colleague",
            "email": "colleague@a.example",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    # The viewer watches runs but may not start one: 403 with the reason.
    refused = call(colleague, "post", f"/api/workflows/{workflow_id}/runs", {"inputs": {}})
    assert refused.status_code == 403
    assert "viewer" in refused.json()["detail"]
    # A token starts a run.
    page = owner.post(reverse("tokens"), {"name": "curl", "role": "operator"}).content.decode()
    secret = re.search(r'id="token-secret">([^<]+)<', page)
    assert secret
    started = Client().post(
        f"/api/workflows/{workflow_id}/runs",
        {"inputs": {}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret.group(1)}",
    )
    assert started.status_code == 201
    log = owner.get(reverse("audit")).content.decode()
    for action in (
        "workflow.created",
        "workflow.published",
        "member.invited",
        "member.joined",
        "token.created",
        "run.started",
    ):
        assert action in log, action
    assert "colleague" in log
