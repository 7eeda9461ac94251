"""Top-level URL configuration."""

from __future__ import annotations

from django.urls import include, path

from webapp.api.api import api

urlpatterns = [
    path("api/", api.urls),
    path("", include("webapp.ops.urls")),
    path("", include("webapp.monitoring.urls")),
    path("", include("webapp.reports.urls")),
    path("", include("webapp.pages.urls")),
    path("", include("webapp.editor.urls")),
    path("", include("webapp.accounts.urls")),
    path("", include("webapp.audit.urls")),
]
