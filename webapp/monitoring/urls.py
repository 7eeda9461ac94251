"""Routes of the runs list, the run page and the dashboards."""

from __future__ import annotations

from django.urls import path

from webapp.monitoring import views_dashboards, views_runs

urlpatterns = [
    path("runs/", views_runs.runs_list, name="runs"),
    path("runs/start/", views_runs.run_start, name="run_start"),
    path("runs/<int:run_id>/", views_runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/row/", views_runs.run_row, name="run_row"),
    path("runs/<int:run_id>/steps/", views_runs.run_steps, name="run_steps"),
    path("runs/<int:run_id>/timeline/", views_runs.run_timeline, name="run_timeline"),
    path("runs/<int:run_id>/cancel/", views_runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/retry/", views_runs.run_retry, name="run_retry"),
    path("dashboards/", views_dashboards.dashboards, name="dashboards"),
    path("dashboards/queues/", views_dashboards.queues, name="dashboard_queues"),
    path("dashboards/<slug:chart>.csv", views_dashboards.chart_csv, name="dashboard_csv"),
    path("dashboards/<slug:chart>/", views_dashboards.chart_json, name="dashboard_chart"),
]
