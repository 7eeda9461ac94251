from __future__ import annotations

import pytest

from tests.conftest import Personas, client_for
from webapp import audit
from webapp.audit.models import AuditEvent
from webapp.providers.services import do_save_provider
from webapp.workflows.services import do_create_workflow

pytestmark = pytest.mark.django_db


def test_record_outside_a_request_is_a_system_event(personas: Personas) -> None:
    event = audit.record(personas.team_a, "export.downloaded", detail={"format": "csv"})
    assert event.via == "system"
    assert event.actor is None
    assert event.ip is None
    assert event.team_name == "Team A"
    assert event.detail == {"format": "csv"}


def test_record_refuses_a_malformed_action(personas: Personas) -> None:
    with pytest.raises(ValueError, match=r"thing\.verb"):
        audit.record(personas.team_a, "Deleted Everything")


def test_services_record_who_did_what(personas: Personas) -> None:
    workflow = do_create_workflow(personas.team_a, "Triage", user=personas.owner_a)
    do_save_provider(personas.team_a, "OpenAI", kind="openai", api_key="sk-secret")
    do_save_provider(personas.team_a, "OpenAI", kind="openai", api_key="sk-other")
    actions = list(
        AuditEvent.objects.filter(team=personas.team_a)
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("workflow.created", personas.owner_a.pk),
        ("credential.added", None),
        ("credential.rotated", None),
    ]
    event = AuditEvent.objects.get(action="workflow.created")
    assert (event.target_type, event.target_id, event.target_repr) == (
        "workflow",
        str(workflow.pk),
        "Triage",
    )
    assert "sk-" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_a_request_supplies_actor_ip_and_via(personas: Personas) -> None:
    response = client_for(personas.owner_a).post(
        "/api/workflows",
        {"name": "From API", "graph": {}},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(action="workflow.created")
    assert event.actor == personas.owner_a
    assert event.actor_name == "owner_a"
    assert event.ip == "203.0.113.7"
    assert event.via == "api"


def test_repeated_autosaves_coalesce_into_one_event(personas: Personas) -> None:
    client = client_for(personas.owner_a)
    created = client.post(
        "/api/workflows", {"name": "Draft", "graph": {}}, content_type="application/json"
    ).json()
    for text in ("a", "b", "c"):
        response = client.patch(
            f"/api/workflows/{created['id']}",
            {"description": text},
            content_type="application/json",
        )
        assert response.status_code == 200
    edits = AuditEvent.objects.filter(action="workflow.edited")
    assert edits.count() == 1
    assert edits.get().detail == {"saves": 3}
