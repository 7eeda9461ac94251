"""Loading the bundled example workflows (examples/*.json) into a team."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from webapp.accounts.models import Team
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import do_create_workflow, do_publish, do_save_draft

EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"
# Sub-workflows first: the supervisor calls the other two by name.
ORDER = ["support_triage.json", "debate.json", "research_team.json", "supervisor.json"]


def example_documents() -> list[dict[str, Any]]:
    """[{"name", "description", "graph"}] of every bundled example, in load order."""
    files = sorted(
        EXAMPLES_DIR.glob("*.json"),
        key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name),
    )
    return [json.loads(path.read_text()) for path in files]


def load_examples(team: Team) -> list[WorkflowVersion]:
    """Create or update each example workflow in `team`, publishing a version when
    its graph changed. Idempotent. Returns the latest version of each."""
    versions = []
    for document in example_documents():
        workflow = Workflow.objects.filter(team=team, name=document["name"]).first()
        if workflow is None:
            workflow = do_create_workflow(
                team,
                document["name"],
                description=document.get("description", ""),
                graph=document["graph"],
            )
        latest = workflow.latest_version()
        if latest is None or latest.graph != document["graph"]:
            do_save_draft(workflow, document["graph"])
            latest = do_publish(workflow, message="bundled example")
        versions.append(latest)
    return versions
