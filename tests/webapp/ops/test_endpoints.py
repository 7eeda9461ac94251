from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.conftest import WorkerPool

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_sign_in() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.worker
def test_readyz_ok_when_database_redis_and_a_worker_answer(
    celery_worker_process: WorkerPool,
) -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert 0 <= check["latency_ms"] < 2000


@override_settings(REDIS_URL="redis://127.0.0.1:6390/0")
def test_readyz_503_names_the_failing_check() -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["ok"] is False
    assert "6390" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_metrics_counts_requests_in_prometheus_format() -> None:
    client = Client()
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_total_by_method_total counter" in text
    assert "django_http_requests_latency_seconds_by_view_method_bucket{" in text
    assert 'view="healthz"' in text


def test_metrics_refuses_non_loopback_clients_without_a_token() -> None:
    response = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert response.status_code == 403


@override_settings(METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_with_token_needs_the_bearer_token() -> None:
    assert Client().get("/metrics").status_code == 403
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = Client(REMOTE_ADDR="203.0.113.9").get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )
    assert right.status_code == 200
