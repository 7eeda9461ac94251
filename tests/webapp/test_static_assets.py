"""All assets are served by the app itself: no CDN, in DEBUG and not."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import Personas, client_for

pytestmark = pytest.mark.django_db


def test_pages_reference_only_local_assets(personas: Personas) -> None:
    assert settings.DEBUG is False
    pages = [Client().get("/accounts/login/"), client_for(personas.owner_a).get("/")]
    for response in pages:
        html = response.content.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert any("htmx" in s for s in sources)
        for source in sources:
            assert not re.match(r"(https?:)?//", source), source


def test_vendored_assets_are_served(personas: Personas) -> None:
    html = client_for(personas.owner_a).get("/").content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        response = Client().get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        assert len(body) > 100, asset


def test_htmx_requests_carry_the_csrf_token(personas: Personas) -> None:
    html = client_for(personas.owner_a).get("/").content.decode()
    match = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>", html)
    assert match
    assert len(match.group(1)) >= 32
