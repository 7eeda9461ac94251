from __future__ import annotations

from django.urls import path

from webapp.editor import views

urlpatterns = [
    path("workflows/", views.workflow_list, name="workflows"),
    path("workflows/new", views.workflow_create, name="workflow_create"),
    path("workflows/<int:workflow_id>/", views.workflow_edit, name="workflow_edit"),
    path("workflows/<int:workflow_id>/versions", views.version_history, name="version_history"),
    path(
        "workflows/<int:workflow_id>/versions/<int:number>/restore",
        views.version_restore,
        name="version_restore",
    ),
]
