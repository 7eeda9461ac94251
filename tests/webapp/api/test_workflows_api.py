"""/api/node-types and /api/workflows (with versions) as owner_a, viewer_a,
member_b and anonymous: statuses, effects, conflicts, CSRF and bad bodies."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orchestration.nodes import REGISTRY
from tests.conftest import Personas, client_for
from tests.webapp.api.helpers import (
    ANONYMOUS,
    OPERATIONS,
    WHO,
    broken_graph,
    call,
    client_as,
    echo_graph,
    error_fields,
)
from webapp.runs.models import Run
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import do_create_workflow, do_publish

pytestmark = pytest.mark.django_db

SIGN_IN = {"detail": "Sign in or send an API token."}


@pytest.fixture
def workflow(personas: Personas) -> Workflow:
    """Team A's workflow with a valid draft and version 1 published."""
    created = do_create_workflow(personas.team_a, "Summarise", graph=echo_graph())
    do_publish(created, message="first")
    return created


def snapshot(workflow: Workflow) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    found = Workflow.objects.filter(pk=workflow.pk).first()
    if found is None:
        return ("deleted",)
    return (
        found.name,
        found.description,
        found.draft,
        found.draft_revision,
        found.versions.count(),
        Run.objects.filter(workflow=found).count(),
    )


# method, path under /api/workflows/{id}, body, status for each of WHO
ON_TEAM_A_WORKFLOW: list[tuple[str, str, Any, tuple[int, int, int, int]]] = [
    ("get", "", None, (200, 200, 404, 401)),
    ("patch", "", {"description": "changed"}, (200, 403, 404, 401)),
    ("delete", "", None, (204, 403, 404, 401)),
    ("post", "/validate", {}, (200, 200, 404, 401)),
    ("get", "/versions", None, (200, 200, 404, 401)),
    ("post", "/versions", {"message": "second"}, (201, 403, 404, 401)),
    ("post", "/runs", {"inputs": {}}, (201, 403, 404, 401)),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "who", "expected"),
    [
        pytest.param(method, suffix, body, who, statuses[i], id=f"{method}{suffix or '/'}-{who}")
        for method, suffix, body, statuses in ON_TEAM_A_WORKFLOW
        for i, who in enumerate(WHO)
    ],
)
def test_each_workflow_endpoint_as_each_persona(
    personas: Personas,
    workflow: Workflow,
    method: str,
    suffix: str,
    body: Any,
    who: str,
    expected: int,
) -> None:
    before = snapshot(workflow)
    path = f"/api/workflows/{workflow.pk}{suffix}"
    response = call(client_as(personas, who), method, path, body)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert snapshot(workflow) == before, "a refused request changed something"
    if expected == 401:
        assert response.json() == SIGN_IN
    if expected == 404:
        assert "Summarise" not in response.content.decode()


@pytest.mark.parametrize("who", WHO)
def test_node_type_catalogue(personas: Personas, who: str) -> None:
    response = client_as(personas, who).get("/api/node-types")
    if who == ANONYMOUS:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    entries = {entry["type"]: entry for entry in response.json()}
    assert set(entries) == set(REGISTRY)
    for entry in entries.values():
        assert entry["config_schema"]["type"] == "object", entry["type"]
        assert isinstance(entry["inputs"], list)
        assert isinstance(entry["outputs"], list)
    assert [p["name"] for p in entries["input"]["inputs"]] == []
    assert "in" in [p["name"] for p in entries["output"]["inputs"]]
    assert "prompt" in entries["llm"]["config_schema"]["properties"]
    assert {"text"} <= {p["name"] for p in entries["llm"]["outputs"]}


@pytest.mark.parametrize(
    ("who", "expected"),
    [("owner_a", 201), ("viewer_a", 403), ("member_b", 201), (ANONYMOUS, 401)],
)
def test_create_goes_to_the_callers_team(personas: Personas, who: str, expected: int) -> None:
    response = call(client_as(personas, who), "post", "/api/workflows", {"name": "New"})
    assert response.status_code == expected, response.content
    created = Workflow.objects.filter(name="New")
    if expected != 201:
        assert not created.exists()
        return
    team = personas.team_a if who == "owner_a" else personas.team_b
    assert created.get().team == team
    assert response.json()["id"] == created.get().pk


@pytest.mark.parametrize(
    ("who", "names"),
    [("owner_a", ["Summarise"]), ("viewer_a", ["Summarise"]), ("member_b", ["B's own"])],
)
def test_list_shows_only_the_current_teams_workflows(
    personas: Personas, workflow: Workflow, who: str, names: list[str]
) -> None:
    do_create_workflow(personas.team_b, "B's own")
    response = client_as(personas, who).get("/api/workflows")
    assert response.status_code == 200
    assert [w["name"] for w in response.json()] == names


def test_list_is_refused_anonymously_and_without_a_team(personas: Personas) -> None:
    assert Client().get("/api/workflows").status_code == 401
    loner = client_for(User.objects.create_user("loner"))
    assert loner.get("/api/workflows").status_code == 400
    refused = call(loner, "post", "/api/workflows", {"name": "Orphan"})
    assert refused.status_code == 400
    assert "team" in refused.json()["detail"]
    assert not Workflow.objects.exists()


def test_owner_creates_edits_publishes_and_deletes(personas: Personas) -> None:
    owner = client_for(personas.owner_a)
    created = call(owner, "post", "/api/workflows", {"name": "Draft", "graph": echo_graph()})
    assert created.status_code == 201
    body = created.json()
    assert (body["draft_revision"], body["latest_version"], body["graph"]) == (
        1,
        None,
        echo_graph(),
    )
    url = f"/api/workflows/{body['id']}"

    changes = {"name": "Final", "description": "d", "graph": echo_graph("x"), "base_revision": 1}
    patched = call(owner, "patch", url, changes)
    assert patched.status_code == 200
    assert patched.json()["draft_revision"] == 2
    shown = owner.get(url).json()
    assert (shown["name"], shown["description"]) == ("Final", "d")
    assert shown["graph"] == echo_graph("x")

    assert call(owner, "post", url + "/validate", {}).json() == {"valid": True, "problems": []}
    first = call(owner, "post", url + "/versions", {"message": "one"})
    second = call(owner, "post", url + "/versions", {})
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["number"], first.json()["message"]) == (1, "one")
    assert first.json()["graph"] == echo_graph("x")
    versions = owner.get(url + "/versions").json()
    assert [v["number"] for v in versions] == [2, 1]
    assert owner.get(url).json()["latest_version"] == 2

    assert owner.delete(url).status_code == 204
    assert owner.get(url).status_code == 404
    assert not WorkflowVersion.objects.exists()


def test_validate_reports_every_problem_with_codes_and_node_ids(
    personas: Personas, workflow: Workflow
) -> None:
    url = f"/api/workflows/{workflow.pk}/validate"
    response = call(client_for(personas.viewer_a), "post", url, {"graph": broken_graph()})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    found = {(p["code"], p["node_id"], p["edge_id"]) for p in body["problems"]}
    assert {
        ("duplicate_node_id", "t", None),
        ("unknown_node_type", "x", None),
        ("invalid_template", "t", None),
        ("unknown_port", "t", "in.out-t.nope"),
        ("dangling_edge", None, "ghost.out-t.in"),
        ("unreachable_node", "x", None),
    } <= found, found
    assert "output_ref_unknown" in {code for code, _, _ in found}
    assert all(p["message"] and p["severity"] in ("error", "warning") for p in body["problems"])
    assert snapshot(workflow)[2] == echo_graph(), "validating a graph must not save it"


def test_validate_without_a_graph_checks_the_stored_draft(personas: Personas) -> None:
    broken = do_create_workflow(personas.team_a, "Broken", graph=broken_graph())
    response = call(
        client_for(personas.owner_a), "post", f"/api/workflows/{broken.pk}/validate", {}
    )
    assert response.json()["valid"] is False
    assert "unknown_node_type" in {p["code"] for p in response.json()["problems"]}


def test_publishing_an_invalid_draft_is_refused_and_stores_nothing(personas: Personas) -> None:
    broken = do_create_workflow(personas.team_a, "Broken", graph=broken_graph())
    url = f"/api/workflows/{broken.pk}/versions"
    response = call(client_for(personas.owner_a), "post", url, {"message": "try"})
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert {"unknown_node_type", "unknown_port", "output_ref_unknown"} <= {
        p["code"] for p in problems
    }
    assert all(p["severity"] == "error" for p in problems), "warnings do not block publishing"
    assert not broken.versions.exists()
    assert client_for(personas.owner_a).get(url).json() == []


def test_names_are_unique_within_a_team_only(personas: Personas, workflow: Workflow) -> None:
    taken = call(client_for(personas.owner_a), "post", "/api/workflows", {"name": "Summarise"})
    assert taken.status_code == 409
    assert "Summarise" in taken.json()["detail"]
    assert Workflow.objects.filter(name="Summarise").count() == 1
    elsewhere = call(client_for(personas.member_b), "post", "/api/workflows", {"name": "Summarise"})
    assert elsewhere.status_code == 201


def test_renaming_to_a_taken_name_is_a_conflict(personas: Personas, workflow: Workflow) -> None:
    other = do_create_workflow(personas.team_a, "Other")
    owner = client_as(personas, "owner_a", raise_errors=False)
    response = call(owner, "patch", f"/api/workflows/{other.pk}", {"name": "Summarise"})
    assert response.status_code == 409
    assert Workflow.objects.get(pk=other.pk).name == "Other"


def test_a_stale_base_revision_is_a_conflict_and_keeps_the_draft(
    personas: Personas, workflow: Workflow
) -> None:
    owner = client_for(personas.owner_a)
    url = f"/api/workflows/{workflow.pk}"
    assert (
        call(owner, "patch", url, {"graph": echo_graph("a"), "base_revision": 1}).status_code == 200
    )
    stale = {"graph": echo_graph("b"), "base_revision": 1, "name": "Renamed"}
    response = call(owner, "patch", url, stale)
    assert response.status_code == 409
    assert "revision 1" in response.json()["detail"]
    stored = Workflow.objects.get(pk=workflow.pk)
    assert (stored.draft, stored.draft_revision, stored.name) == (echo_graph("a"), 2, "Summarise")


def test_editors_may_not_delete_workflows(personas: Personas) -> None:
    own = do_create_workflow(personas.team_b, "Mine")
    assert client_for(personas.member_b).delete(f"/api/workflows/{own.pk}").status_code == 403
    assert Workflow.objects.filter(pk=own.pk).exists()


def test_deleting_a_workflow_deletes_its_runs(personas: Personas, workflow: Workflow) -> None:
    owner = client_as(personas, "owner_a", raise_errors=False)
    assert (
        call(owner, "post", f"/api/workflows/{workflow.pk}/runs", {"inputs": {}}).status_code == 201
    )
    response = owner.delete(f"/api/workflows/{workflow.pk}")
    assert response.status_code == 204
    assert not Run.objects.exists()


def test_anonymous_gets_401_on_every_api_operation(personas: Personas) -> None:
    schema = client_for(personas.owner_a).get("/api/schema/").json()
    anonymous = Client()
    tried = 0
    for path, operations in schema["paths"].items():
        concrete = path.replace("{workflow_id}", "1").replace("{run_id}", "1")
        for method in operations:
            response = call(anonymous, method, concrete, {} if method != "get" else None)
            assert response.status_code == 401, (method, path)
            assert response.json() == SIGN_IN
            tried += 1
    assert tried == sum(len(methods) for methods in OPERATIONS.values())


def test_unsafe_requests_need_the_csrf_token(personas: Personas, workflow: Workflow) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.owner_a)
    url = f"/api/workflows/{workflow.pk}"
    before = snapshot(workflow)
    assert browser.get(url).status_code == 200
    for method, path, body in [
        ("post", "/api/workflows", {"name": "Forged"}),
        ("patch", url, {"name": "Forged"}),
        ("post", url + "/versions", {}),
        ("post", url + "/runs", {"inputs": {}}),
        ("delete", url, None),
    ]:
        response = call(browser, method, path, body)
        assert response.status_code == 403, (method, path)
    assert not Workflow.objects.filter(name="Forged").exists()
    assert snapshot(workflow) == before

    browser.get("/")  # a page that renders the token sets the cookie
    token = browser.cookies["csrftoken"].value
    allowed = browser.post(
        "/api/workflows", {"name": "Real"}, "application/json", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 201


BAD_BODIES = [
    ("post", "", {"name": 5}, "name"),
    ("post", "", {"description": "no name"}, "name"),
    ("post", "", {"name": "x", "graph": "not an object"}, "graph"),
    ("post", "", ["a", "list"], "name"),
    ("patch", "/{id}", {"base_revision": "latest"}, "base_revision"),
    ("patch", "/{id}", {"graph": [1, 2]}, "graph"),
    ("post", "/{id}/validate", {"graph": "x"}, "graph"),
    ("post", "/{id}/versions", {"message": ["a"]}, "message"),
    ("post", "/{id}/runs", {"inputs": [1]}, "inputs"),
    ("post", "/{id}/runs", {"version": "latest"}, "version"),
]


@pytest.mark.parametrize(("method", "suffix", "body", "field"), BAD_BODIES)
def test_wrong_types_are_422_naming_the_field(
    personas: Personas, workflow: Workflow, method: str, suffix: str, body: Any, field: str
) -> None:
    before = snapshot(workflow)
    path = "/api/workflows" + suffix.format(id=workflow.pk)
    response = call(client_for(personas.owner_a), method, path, body)
    assert response.status_code == 422, response.content
    assert field in error_fields(response)
    assert snapshot(workflow) == before


@pytest.mark.parametrize("suffix", ["", "/{id}", "/{id}/validate", "/{id}/versions", "/{id}/runs"])
def test_malformed_json_is_400(personas: Personas, workflow: Workflow, suffix: str) -> None:
    method = "patch" if suffix == "/{id}" else "post"
    path = "/api/workflows" + suffix.format(id=workflow.pk)
    response = call(client_for(personas.owner_a), method, path, '{"name": "x",')
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot parse request body"


def test_bad_path_and_query_parameters_are_422(personas: Personas) -> None:
    owner = client_for(personas.owner_a)
    assert error_fields(owner.get("/api/workflows/abc")) == {"workflow_id"}
    assert error_fields(owner.get("/api/runs?limit=many")) == {"limit"}


@pytest.mark.parametrize(
    ("method", "suffix", "field", "length"),
    [
        ("post", "", "name", 201),
        ("patch", "/{id}", "name", 201),
        ("post", "/{id}/versions", "message", 501),
    ],
)
def test_a_string_longer_than_its_column_is_422(
    personas: Personas, workflow: Workflow, method: str, suffix: str, field: str, length: int
) -> None:
    path = "/api/workflows" + suffix.format(id=workflow.pk)
    owner = client_as(personas, "owner_a", raise_errors=False)
    response = call(owner, method, path, {field: "x" * length})
    assert response.status_code == 422
    assert field in error_fields(response)


def test_a_blank_name_is_422(personas: Personas) -> None:
    response = call(client_for(personas.owner_a), "post", "/api/workflows", {"name": ""})
    assert response.status_code == 422
    assert "name" in error_fields(response)


@pytest.mark.parametrize("debug", [False, True])
def test_a_role_too_low_gets_a_json_403(
    personas: Personas, settings: Any, workflow: Workflow, debug: bool
) -> None:
    settings.DEBUG = debug
    viewer = client_as(personas, "viewer_a", raise_errors=False)
    response = call(viewer, "post", f"/api/workflows/{workflow.pk}/versions", {})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "viewer" in response.json()["detail"]
