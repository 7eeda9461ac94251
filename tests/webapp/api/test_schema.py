"""The OpenAPI schema at /api/schema/ and the browsable docs at /api/docs/."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from tests.conftest import Personas
from tests.webapp.api.helpers import ANONYMOUS, OPERATIONS, WHO, client_as

pytestmark = pytest.mark.django_db

SIGNED_IN = [who for who in WHO if who != ANONYMOUS]


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_anonymous_is_sent_to_sign_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    assert b"paths" not in response.content


@pytest.mark.parametrize("who", SIGNED_IN)
def test_schema_lists_every_operation(personas: Personas, who: str) -> None:
    response = client_as(personas, who).get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Quorum API"
    served = {path: set(operations) for path, operations in schema["paths"].items()}
    assert served == OPERATIONS
    operation = schema["paths"]["/api/workflows/{workflow_id}/runs"]["post"]
    assert operation["security"], "operations are documented as needing sign-in"
    assert "201" in operation["responses"]


def test_docs_render_for_a_signed_in_user(personas: Personas) -> None:
    response = client_as(personas, "viewer_a").get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Quorum API" in html
    assert "/api/schema/" in html
    assert re.search(r"<script[^>]+src=", html), "the docs load Swagger UI"


def test_docs_reference_only_local_assets(personas: Personas) -> None:
    client = client_as(personas, "owner_a")
    html = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    remote = [s for s in sources if re.match(r"(https?:)?//", s)]
    assert remote == []
    for source in sources:
        assert client.get(source).status_code == 200, source
