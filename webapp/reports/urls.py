"""Routes of the exports (docs/reports.md)."""

from __future__ import annotations

from django.urls import path

from webapp.reports import views

urlpatterns = [
    path("runs/<int:run_id>/report.<str:fmt>", views.run_report, name="run_report"),
    path("reports/usage/", views.usage_page, name="usage_reports"),
    path("reports/usage/schedule/", views.usage_schedule, name="usage_schedule"),
    path("reports/usage.<str:fmt>", views.usage_report, name="usage_report"),
    path("reports/dashboard.pdf", views.dashboard_pdf, name="dashboard_pdf"),
    path("reports/jobs/<int:job_id>/", views.export_job, name="export_job"),
    path(
        "reports/jobs/<int:job_id>/download", views.export_job_download, name="export_job_download"
    ),
    path("reports/workflows/import/", views.workflow_import, name="workflow_import"),
    path(
        "reports/workflows/<int:workflow_id>/export.<str:fmt>",
        views.workflow_export,
        name="workflow_export",
    ),
]
