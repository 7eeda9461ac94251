"""WSGI entry point (HTTP only). Quorum normally runs under ASGI: see webapp/asgi.py."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

application = get_wsgi_application()
