"""Top-level URL configuration."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("webapp.ops.urls")),
    path("", include("webapp.pages.urls")),
    path("", include("webapp.accounts.urls")),
]
