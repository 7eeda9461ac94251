"""The REST API (JSON) at /api/: workflows, versions, runs, the node catalogue.

Personal API tokens (`Authorization: Bearer qrm_...`, webapp/api/auth.py) for
integrations; session auth with CSRF for browsers. Every object is fetched
through webapp.accounts.permissions: another team's object is a 404, a role
too low a 403. The OpenAPI schema is served by django-ninja at /api/schema/,
with browsable docs at /api/docs/ (signed-in users, or an API token).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError

from webapp.api import runs, workflows
from webapp.api.auth import SignedInSession, TokenAuth, signed_in_or_token
from webapp.runs.services import BudgetExhausted, RunInputError
from webapp.workflows.services import GraphInvalid, WorkflowNameTaken

api = NinjaAPI(
    title="Quorum API",
    version="1",
    auth=[TokenAuth(), SignedInSession()],
    urls_namespace="api",
    openapi_url="/schema/",
    docs_url="/docs/",
    docs_decorator=signed_in_or_token,
)
api.add_router("/", workflows.router)
api.add_router("/", runs.router)


@api.exception_handler(GraphInvalid)
def graph_invalid(request: HttpRequest, exc: GraphInvalid) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": str(exc), "problems": [p.to_json() for p in exc.problems]},
        status=400,
    )


@api.exception_handler(BudgetExhausted)
def budget_exhausted(request: HttpRequest, exc: BudgetExhausted) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc), "problems": []}, status=409)


@api.exception_handler(RunInputError)
def run_input_error(request: HttpRequest, exc: RunInputError) -> HttpResponse:
    body: dict[str, Any] = {"detail": str(exc), "problems": [p.to_json() for p in exc.problems]}
    return api.create_response(request, body, status=400)


@api.exception_handler(WorkflowNameTaken)
def name_taken(request: HttpRequest, exc: WorkflowNameTaken) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": "Sign in or send an API token."}, status=401)
