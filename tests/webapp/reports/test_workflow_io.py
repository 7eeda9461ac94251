"""Workflow definitions: export (JSON, YAML; latest, any version, draft) and
import (validated first, every problem listed, nothing half-stored), across teams."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.conftest import Personas, client_for
from tests.webapp.reports.helpers import SECRET
from tests.webapp.runs.helpers import simulator
from webapp.workflows.examples import example_documents, load_examples
from webapp.workflows.models import Workflow
from webapp.workflows.services import do_publish, do_save_draft

pytestmark = pytest.mark.django_db


def _export(client: Any, workflow: Workflow, fmt: str, version: str = "latest") -> Any:
    return client.get(f"/reports/workflows/{workflow.pk}/export.{fmt}", {"version": version})


def _parse(fmt: str, content: bytes) -> dict[str, Any]:
    return json.loads(content) if fmt == "json" else yaml.safe_load(content)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_every_example_round_trips_into_another_team(personas: Personas, fmt: str) -> None:
    simulator(personas.team_a, "http://127.0.0.1:9", api_key=SECRET)
    load_examples(personas.team_a)
    owner, other = client_for(personas.owner_a), client_for(personas.member_b)
    for document in example_documents():
        workflow = Workflow.objects.get(team=personas.team_a, name=document["name"])
        response = _export(owner, workflow, fmt)
        assert response.status_code == 200
        assert f".{fmt}" in response["Content-Disposition"]
        assert SECRET not in response.content.decode()
        exported = _parse(fmt, response.content)
        assert exported["graph"] == document["graph"]
        assert exported["version"] == 1
        upload = {"text": response.content.decode(), "name": f"{document['name']} copy"}
        imported = other.post("/reports/workflows/import/", upload)
        assert imported.status_code == 302, imported.content.decode()[:2000]
        copy = Workflow.objects.get(team=personas.team_b, name=f"{document['name']} copy")
        latest = copy.latest_version()
        assert latest is not None
        assert latest.graph == document["graph"]
        again = _parse(fmt, _export(other, copy, fmt).content)
        assert again["graph"] == exported["graph"]


def test_export_any_version_or_the_draft(personas: Personas) -> None:
    versions = {v.workflow.name: v for v in load_examples(personas.team_a)}
    workflow = versions["Debate"].workflow
    changed = json.loads(json.dumps(workflow.draft))
    changed["nodes"][0]["label"] = "Renamed in v2"
    do_publish(do_save_draft(workflow, changed))
    draft = json.loads(json.dumps(changed))
    draft["nodes"][0]["label"] = "Draft only"
    do_save_draft(workflow, draft)
    client = client_for(personas.viewer_a)  # VIEW is enough, like the editor's export
    v1 = _parse("yaml", _export(client, workflow, "yaml", "1").content)
    v2 = _parse("yaml", _export(client, workflow, "yaml", "latest").content)
    d = _parse("json", _export(client, workflow, "json", "draft").content)
    assert v1["graph"] == versions["Debate"].graph
    assert v1["version"] == 1
    assert v2["graph"] == changed
    assert v2["version"] == 2
    assert d["graph"] == draft
    assert d["version"] is None
    assert _export(client, workflow, "yaml", "9").status_code == 404
    bad = _export(client, workflow, "yaml", "newest")
    assert bad.status_code == 400
    assert b"version: 'newest'" in bad.content
    assert _export(client, workflow, "xml").status_code == 400
    assert _export(client_for(personas.member_b), workflow, "json").status_code == 404


def test_secret_keys_in_a_graph_are_never_exported(personas: Personas) -> None:
    versions = {v.workflow.name: v for v in load_examples(personas.team_a)}
    workflow = versions["Debate"].workflow
    graph = json.loads(json.dumps(workflow.draft))
    graph["nodes"][0]["config"]["api_key"] = "sk-planted-in-a-config-777"
    graph["nodes"][0]["config"]["credential_id"] = 31337
    graph["nodes"][0]["config"]["headers"] = {"Authorization": "Bearer sk-planted-header-888"}
    do_save_draft(workflow, graph)
    for fmt in ("json", "yaml"):
        text = _export(client_for(personas.owner_a), workflow, fmt, "draft").content.decode()
        assert "sk-planted" not in text
        assert "31337" not in text
        assert "credential_id" not in text


def test_import_lists_every_problem_and_stores_nothing(personas: Personas) -> None:
    client = client_for(personas.member_b)
    before = Workflow.objects.count()
    malformed = client.post("/reports/workflows/import/", {"text": "name: x\ngraph: [1,\n  2"})
    assert malformed.status_code == 400
    assert "not valid YAML" in malformed.content.decode()
    assert "line 3" in malformed.content.decode()
    bad_json = client.post("/reports/workflows/import/", {"text": '{"name": "x", "graph": }'})
    assert bad_json.status_code == 400
    assert "line 1, column 24" in bad_json.content.decode()
    no_graph = client.post("/reports/workflows/import/", {"text": "name: x\n"})
    assert no_graph.status_code == 400
    assert "no &#x27;graph&#x27;" in no_graph.content.decode()
    invalid = {
        "name": "Broken",
        "graph": {
            "schema_version": 1,
            "inputs": {"type": "object", "properties": {}},
            "nodes": [
                {"id": "a", "type": "no-such-type", "config": {}},
                {"id": "b", "type": "llm", "config": {}},
            ],
            "edges": [{"id": "e1", "source": "a", "sourcePort": "out", "target": "zz",
                       "targetPort": "in"}],
            "outputs": {},
        },
    }  # fmt: skip
    response = client.post("/reports/workflows/import/", {"text": yaml.safe_dump(invalid)})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("<li>") >= 3, html  # every problem, not the first one
    assert "no-such-type" in html
    assert "zz" in html
    assert Workflow.objects.count() == before
    assert client_for(personas.viewer_a).post("/reports/workflows/import/", {}).status_code == 403


def test_import_refuses_a_taken_name(personas: Personas) -> None:
    load_examples(personas.team_b)
    document = example_documents()[0]
    client = client_for(personas.member_b)
    response = client.post("/reports/workflows/import/", {"text": json.dumps(document)})
    assert response.status_code == 400
    assert "already exists in Team B" in response.content.decode()
    assert Workflow.objects.filter(team=personas.team_b, name=document["name"]).count() == 1


def test_run_page_links_the_pinned_version_export(personas: Personas) -> None:
    from tests.webapp.reports.helpers import seeded_run

    run = seeded_run(personas.team_a, "Linked", 2, user=personas.owner_a)
    client = client_for(personas.owner_a)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    url = f"/reports/workflows/{run.workflow_id}/export.yaml?version={run.version.number}"
    assert url in page
    exported = yaml.safe_load(client.get(url).content)
    assert exported["graph"] == run.version.graph
