"""The editor's API additions: catalogue with port rules, model picker, version
diff, restore-as-draft, import and export, tried by every persona."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration.nodes.base import port_types_compatible
from tests.conftest import Personas
from tests.webapp.api.helpers import ANONYMOUS, call, client_as, echo_graph
from tests.webapp.runs.helpers import edge, graph, node
from webapp.providers.models import ProviderSetting
from webapp.workflows.models import Workflow
from webapp.workflows.services import do_create_workflow, do_publish, do_save_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(personas: Personas) -> Workflow:
    """Team A's workflow: v1 = input -> output, v2 adds a template node."""
    created = do_create_workflow(personas.team_a, "Triage", graph=echo_graph())
    do_publish(created, message="first")
    second = graph(
        [
            node("in", "input"),
            node("t", "template", {"template": "{{ input }}!"}),
            node("out", "output"),
        ],
        [edge("in", "out", "t", "in"), edge("t", "text", "out", "in")],
    )
    do_save_draft(created, second)
    do_publish(created, message="second")
    return created


def test_catalogue_carries_the_engines_port_rules(personas: Personas) -> None:
    body = call(client_as(personas, "viewer_a"), "get", "/api/editor/catalogue").json()
    assert {t["type"] for t in body["node_types"]} >= {"input", "llm", "output", "router"}
    for source in body["port_types"]:
        for target in body["port_types"]:
            assert (target in body["compatible"][source]) == port_types_compatible(source, target)
    assert "list" not in body["compatible"]["text"]


def test_models_list_the_current_teams_providers_with_prices(personas: Personas) -> None:
    ProviderSetting.objects.create(
        team=personas.team_a,
        name="Local",
        kind="openai",
        model_names=["priced", "unpriced"],
        price_overrides={"priced": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}},
        api_key_encrypted="not-a-fernet-token",  # never decrypted for the picker
    )
    ProviderSetting.objects.create(
        team=personas.team_b, name="Other", kind="openai", model_names=["x"]
    )
    rows = call(client_as(personas, "viewer_a"), "get", "/api/models").json()
    assert rows == [
        {
            "provider": "Local",
            "model": "priced",
            "simulated": False,
            "input_per_mtok": "0.15",
            "output_per_mtok": "0.60",
        },
        {
            "provider": "Local",
            "model": "unpriced",
            "simulated": False,
            "input_per_mtok": None,
            "output_per_mtok": None,
        },
    ]
    assert [
        r["provider"] for r in call(client_as(personas, "member_b"), "get", "/api/models").json()
    ] == ["Other"]
    assert call(client_as(personas, ANONYMOUS), "get", "/api/models").status_code == 401


def test_diff_against_previous_draft_and_a_number(personas: Personas, workflow: Workflow) -> None:
    client = client_as(personas, "viewer_a")
    base = f"/api/workflows/{workflow.pk}/versions"
    d = call(client, "get", f"{base}/2/diff").json()
    assert d["nodes_added"] == ["t"]
    assert sorted(d["edges_added"]) == ["in.out-t.in", "t.text-out.in"]
    assert d["edges_removed"] == ["in.out-out.in"]
    assert d["summary"] == "1 node added, 2 edges added, 1 edge removed"
    assert call(client, "get", f"{base}/1/diff").json()["nodes_added"] == ["in", "out"]
    assert call(client, "get", f"{base}/2/diff?against=1").json()["nodes_added"] == ["t"]
    assert call(client, "get", f"{base}/2/diff?against=draft").json()["summary"] == "no changes"
    bad = call(client, "get", f"{base}/2/diff?against=latest")
    assert bad.status_code == 400
    assert "against must be" in bad.json()["detail"]
    missing = call(client, "get", f"{base}/9/diff")
    assert missing.status_code == 404
    assert "no version 9" in missing.json()["detail"]
    assert call(client_as(personas, "member_b"), "get", f"{base}/2/diff").status_code == 404


@pytest.mark.parametrize(
    ("who", "expected"), [("owner_a", 200), ("viewer_a", 403), ("member_b", 404), (ANONYMOUS, 401)]
)
def test_restore_as_draft(personas: Personas, workflow: Workflow, who: str, expected: int) -> None:
    response = call(
        client_as(personas, who), "post", f"/api/workflows/{workflow.pk}/versions/1/restore", {}
    )
    assert response.status_code == expected
    workflow.refresh_from_db()
    v1 = workflow.versions.get(number=1).graph
    assert (workflow.draft == v1) is (expected == 200)


def test_restore_with_a_stale_revision_is_a_conflict(
    personas: Personas, workflow: Workflow
) -> None:
    client = client_as(personas, "owner_a")
    response = call(
        client,
        "post",
        f"/api/workflows/{workflow.pk}/versions/1/restore",
        {"base_revision": workflow.draft_revision - 1},
    )
    assert response.status_code == 409
    assert "changed since revision" in response.json()["detail"]


def test_export_then_import_round_trips(personas: Personas, workflow: Workflow) -> None:
    client = client_as(personas, "owner_a")
    exported = call(client, "get", f"/api/workflows/{workflow.pk}/export").json()
    assert exported["name"] == "Triage"
    exported["name"] = "Triage copy"
    response = call(client, "post", "/api/workflows/import", exported)
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    assert body["problems"] == []
    copy = Workflow.objects.get(pk=body["workflow"]["id"])
    workflow.refresh_from_db()
    assert (copy.team_id, copy.draft) == (personas.team_a.pk, workflow.draft)
    assert (
        call(
            client_as(personas, "member_b"), "get", f"/api/workflows/{workflow.pk}/export"
        ).status_code
        == 404
    )


def test_import_shows_problems_and_refuses_what_is_not_a_graph(personas: Personas) -> None:
    client = client_as(personas, "owner_a")
    with_problems = graph([node("in", "input"), node("x", "nonsense")], [], output="in")
    response = call(
        client, "post", "/api/workflows/import", {"name": "Odd", "graph": with_problems}
    )
    assert response.status_code == 201
    assert "unknown_node_type" in {p["code"] for p in response.json()["problems"]}

    not_graph = {"name": "Junk", "graph": {"nodes": "many", "colour": "red"}}
    response = call(client, "post", "/api/workflows/import", not_graph)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "The file is not a Quorum workflow graph."
    assert {p["field"] for p in body["problems"]} >= {"nodes", "colour"}
    assert not Workflow.objects.filter(name="Junk").exists()

    taken = call(client, "post", "/api/workflows/import", {"name": "Odd", "graph": with_problems})
    assert taken.status_code == 409
    assert (
        call(
            client_as(personas, "viewer_a"), "post", "/api/workflows/import", not_graph
        ).status_code
        == 403
    )
