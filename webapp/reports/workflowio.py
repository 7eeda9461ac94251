"""Workflow definitions as files: export (JSON or YAML, the latest or any
version, or the draft) and import (validated first, every problem listed,
nothing stored unless the whole file is good).

The file: {"format": "quorum.workflow/1", "name", "description", "version"
(number, or null for a draft), "graph"} — a superset of the examples/ format
({"name", "description", "graph"}), which imports too. Graphs name providers
and models, never keys; keys that name a secret are stripped all the same
(webapp.reports.redact)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django.db import transaction

from orchestration.validation import validate
from webapp.accounts.models import Team
from webapp.accounts.permissions import AnyUser
from webapp.reports.redact import scrub, strip_secrets, team_secrets
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import (
    GraphInvalid,
    WorkflowNameTaken,
    do_create_workflow,
    do_publish,
)

FORMAT = "quorum.workflow/1"
MAX_BYTES = 5_000_000


def document(workflow: Workflow, version: WorkflowVersion | None) -> dict[str, Any]:
    """The export document of `version` (or of the draft when None)."""
    graph = version.graph if version is not None else workflow.draft
    return {
        "format": FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "version": version.number if version is not None else None,
        "graph": strip_secrets(graph),
    }


def dumps(doc: dict[str, Any], fmt: str, team_id: int) -> str:
    """`doc` as JSON (indented) or YAML (block style, keys in document order),
    with the team's provider keys scrubbed. Raises KeyError for another fmt."""
    if fmt == "json":
        text = json.dumps(doc, indent=2, ensure_ascii=False)
    elif fmt == "yaml":
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    else:
        raise KeyError(fmt)
    return scrub(text, team_secrets(team_id))


class WorkflowFileError(ValueError):
    """The file cannot be imported; `problems` lists every reason, each
    {"code", "message", "node_id", "edge_id", "field", "severity"}."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.problems = problems or []


def _problem(code: str, message: str, where: str | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "node_id": None,
        "edge_id": None,
        "field": where,
        "severity": "error",
    }


def parse(text: str, filename: str = "") -> dict[str, Any]:
    """A file's text -> its document. JSON when the name ends in .json or the
    text starts with "{", else YAML (JSON is YAML too). Raises WorkflowFileError naming
    the line and column of a syntax error, or what is missing."""
    if len(text.encode()) > MAX_BYTES:
        raise WorkflowFileError(f"The file is larger than {MAX_BYTES:,} bytes.")
    as_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    try:
        if as_json:
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise WorkflowFileError(
            f"The file is not valid JSON: {exc.msg} at {where}.",
            [_problem("invalid_json", f"{exc.msg} at {where}", where)],
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        reason = getattr(exc, "problem", None) or str(exc)
        raise WorkflowFileError(
            f"The file is not valid YAML: {reason} at {where}.",
            [_problem("invalid_yaml", f"{reason} at {where}", where)],
        ) from None
    if not isinstance(data, dict):
        raise WorkflowFileError(
            "The file must hold a mapping with name and graph.",
            [_problem("invalid_document", "the top level is not a mapping", "$")],
        )
    problems = []
    if not isinstance(data.get("graph"), dict):
        problems.append(_problem("missing_graph", "there is no 'graph' mapping", "graph"))
    if not isinstance(data.get("name", ""), str):
        problems.append(_problem("invalid_name", "'name' must be text", "name"))
    if problems:
        raise WorkflowFileError("The file is not a Quorum workflow.", problems)
    return data


@transaction.atomic
def do_import(
    team: Team,
    doc: dict[str, Any],
    *,
    user: AnyUser,
    name: str | None = None,
    publish: bool = True,
) -> Workflow:
    """Create a workflow in `team` from a parsed document, validated first:
    refused with every problem (WorkflowFileError) when the graph has errors or the
    name is taken; with `publish`, its graph also becomes version 1. All or
    nothing: a refused import stores nothing."""
    graph = strip_secrets(doc["graph"])
    chosen = (name or str(doc.get("name") or "")).strip()
    problems = [p.to_json() for p in validate(graph) if p.severity == "error"]
    if not chosen:
        problems.insert(0, _problem("missing_name", "the workflow needs a name", "name"))
    elif len(chosen) > 200:
        problems.insert(0, _problem("invalid_name", "the name is over 200 characters", "name"))
    if problems:
        raise WorkflowFileError(f"The graph has {len(problems)} problem(s); nothing was imported.",
                           problems)  # fmt: skip
    try:
        workflow = do_create_workflow(
            team, chosen, description=str(doc.get("description") or ""), graph=graph, user=user
        )
        if publish:
            do_publish(workflow, message="imported", user=user)
    except WorkflowNameTaken:
        raise WorkflowFileError(
            f"A workflow named {chosen!r} already exists in {team.name}; choose another name.",
            [_problem("name_taken", f"{chosen!r} is taken", "name")],
        ) from None
    except GraphInvalid as exc:  # validated above; kept for a race with the catalogue
        raise WorkflowFileError(
            "The graph has problems; nothing was imported.",
            [p.to_json() for p in exc.problems],
        ) from None
    return workflow
