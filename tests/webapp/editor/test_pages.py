"""The workflows list, creating a workflow, the editor page and the version
history partial, by every persona."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Personas, client_for
from tests.webapp.api.helpers import echo_graph
from webapp.workflows.models import Workflow
from webapp.workflows.services import do_create_workflow, do_publish, do_save_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(personas: Personas) -> Workflow:
    created = do_create_workflow(personas.team_a, "Triage", graph=echo_graph())
    do_publish(created, message="first version")
    return created


def test_list_shows_the_teams_workflows(personas: Personas, workflow: Workflow) -> None:
    html = client_for(personas.viewer_a).get("/workflows/").content.decode()
    assert "Triage" in html
    assert "v1" in html
    assert "New workflow" not in html, "viewers cannot create"
    assert "New workflow" in client_for(personas.owner_a).get("/workflows/").content.decode()
    other = client_for(personas.member_b).get("/workflows/").content.decode()
    assert "Triage" not in other
    assert "Team B has no workflows yet." in other


def test_create_opens_the_editor(personas: Personas) -> None:
    response = client_for(personas.owner_a).post("/workflows/new", {"name": "Fresh"})
    created = Workflow.objects.get(name="Fresh")
    assert response.status_code == 302
    assert response["Location"] == f"/workflows/{created.pk}/"
    assert created.team_id == personas.team_a.pk
    assert created.draft["nodes"] == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Enter a name"), ("Triage", "already has a workflow named"), ("x" * 201, "too long")],
)
def test_create_refuses_bad_names(
    personas: Personas, workflow: Workflow, name: str, message: str
) -> None:
    response = client_for(personas.owner_a).post("/workflows/new", {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_viewers_cannot_create(personas: Personas) -> None:
    assert client_for(personas.viewer_a).post("/workflows/new", {"name": "No"}).status_code == 403


def test_editor_page_by_persona(personas: Personas, workflow: Workflow) -> None:
    url = f"/workflows/{workflow.pk}/"
    html = client_for(personas.owner_a).get(url).content.decode()
    assert 'id="editor-root"' in html
    assert 'data-can-edit="1"' in html
    script = re.search(r'<script type="module" src="([^"]+)"', html)
    assert script
    assert script.group(1) == "/static/dist/editor.js"
    viewer = client_for(personas.viewer_a).get(url).content.decode()
    assert 'data-can-edit="0"' in viewer
    assert 'data-can-publish="0"' in viewer
    assert client_for(personas.member_b).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 302


def test_editor_page_embeds_its_first_load(personas: Personas, workflow: Workflow) -> None:
    html = client_for(personas.owner_a).get(f"/workflows/{workflow.pk}/").content.decode()
    match = re.search(r'<script id="editor-initial" type="application/json">(.*?)</script>', html)
    assert match
    initial = json.loads(match.group(1))
    assert initial["workflow"]["graph"] == workflow.draft
    assert initial["workflow"]["latest_version"] == 1
    assert "text" in initial["catalogue"]["compatible"]["json"]
    assert initial["models"] == []


def test_bundle_is_served(personas: Personas) -> None:
    for asset in ("/static/dist/editor.js", "/static/dist/editor.css"):
        response = client_for(None).get(asset)
        assert response.status_code == 200, asset


def test_version_history_summarises_each_version(personas: Personas, workflow: Workflow) -> None:
    draft = dict(workflow.draft)
    draft["nodes"] = [*draft["nodes"], {"id": "extra", "type": "passthrough"}]
    do_save_draft(workflow, draft)
    html = client_for(personas.viewer_a).get(f"/workflows/{workflow.pk}/versions").content.decode()
    assert "first version" in html
    assert "2 nodes added, 1 edge added" in html
    assert "since v1: 1 node added" in html
    assert "Restore as draft" not in html, "viewers cannot restore"
    assert (
        "Restore as draft"
        in client_for(personas.owner_a).get(f"/workflows/{workflow.pk}/versions").content.decode()
    )


def test_restore_replaces_the_draft(personas: Personas, workflow: Workflow) -> None:
    do_save_draft(workflow, {"nodes": []})
    url = f"/workflows/{workflow.pk}/versions/1/restore"
    assert client_for(personas.viewer_a).post(url).status_code == 403
    assert client_for(personas.member_b).post(url).status_code == 404
    response = client_for(personas.owner_a).post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/workflows/{workflow.pk}/"
    workflow.refresh_from_db()
    assert workflow.draft == workflow.versions.get(number=1).graph
    assert (
        client_for(personas.owner_a)
        .post(f"/workflows/{workflow.pk}/versions/7/restore")
        .status_code
        == 404
    )
