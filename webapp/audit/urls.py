from __future__ import annotations

from django.urls import path

from webapp.audit import views

urlpatterns = [
    path("audit/", views.audit_list, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
]
