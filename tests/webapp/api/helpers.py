"""Helpers for the REST API tests: personas by name, JSON calls, small graphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.test import Client

from tests.conftest import Personas
from tests.webapp.runs.helpers import edge, graph, node

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

JSON = "application/json"
ANONYMOUS = "anonymous"
# The four callers every endpoint is tried by, in the order of expectation tuples.
WHO = ("owner_a", "viewer_a", "member_b", ANONYMOUS)

# Every operation the API serves, as the OpenAPI schema names them.
OPERATIONS: dict[str, set[str]] = {
    "/api/node-types": {"get"},
    "/api/workflows": {"get", "post"},
    "/api/workflows/{workflow_id}": {"get", "patch", "delete"},
    "/api/workflows/{workflow_id}/validate": {"post"},
    "/api/workflows/{workflow_id}/versions": {"get", "post"},
    "/api/workflows/{workflow_id}/runs": {"post"},
    "/api/runs": {"get"},
    "/api/runs/{run_id}": {"get"},
    "/api/runs/{run_id}/cancel": {"post"},
    "/api/quota": {"get", "patch"},
    # The editor's (tests/webapp/editor/test_editor_api.py).
    "/api/editor/catalogue": {"get"},
    "/api/models": {"get"},
    "/api/workflows/{workflow_id}/versions/{number}/diff": {"get"},
    "/api/workflows/{workflow_id}/versions/{number}/restore": {"post"},
    "/api/workflows/{workflow_id}/export": {"get"},
    "/api/workflows/import": {"post"},
}


def client_as(personas: Personas, who: str, *, raise_errors: bool = True) -> Client:
    """A client signed in as the persona named `who` (anonymous for ANONYMOUS).

    With `raise_errors=False` a server error comes back as a 500 response
    rather than an exception, so a test can assert on the status it expected."""
    client = Client(raise_request_exception=raise_errors)
    if who != ANONYMOUS:
        client.force_login(getattr(personas, who))
    return client


def call(client: Client, method: str, path: str, body: Any = None) -> Response:
    """`method` on `path`, with `body` sent as JSON when given."""
    send = getattr(client, method)
    if body is None:
        return send(path)
    if not isinstance(body, str):
        return send(path, body, content_type=JSON)
    return send(path, body.encode(), content_type=JSON)


def echo_graph(key: str | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """input -> output: a valid graph that needs no provider."""
    config = {"key": key} if key else {}
    return graph(
        [node("in", "input", config), node("out", "output")],
        [edge("in", "out", "out", "in")],
        inputs=schema,
    )


def broken_graph() -> dict[str, Any]:
    """A graph with several problems, each at a known node or edge."""
    return graph(
        [
            node("in", "input"),
            node("x", "nonsense"),
            node("t", "template", {"template": "{{ unclosed"}),
            node("t", "template", {"template": "again"}),
        ],
        [edge("in", "out", "t", "nope"), edge("ghost", "out", "t", "in")],
        output="missing",
    )


def error_fields(response: Response) -> set[str]:
    """The field names a 422 validation error points at (the last part of each `loc`)."""
    return {str(error["loc"][-1]) for error in response.json()["detail"]}
