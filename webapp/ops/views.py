"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from webapp.ops.checks import check_database, check_redis, check_workers, run_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process can answer HTTP at all."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Database, Redis and at least one Celery worker, checked in parallel.

    Response: {"status": "ok"|"fail", "checks": {name: {"ok", "latency_ms", "error"?}}};
    200 when all pass within settings.READINESS_TIMEOUT_S (2 s), else 503.
    """
    timeout_s = settings.READINESS_TIMEOUT_S
    results = run_checks(
        {
            "database": check_database,
            "redis": lambda: check_redis(settings.REDIS_URL, timeout_s),
            "worker": lambda: check_workers(timeout_s * 0.9),
        },
        timeout_s,
    )
    ok = all(result.ok for result in results)
    body = {
        "status": "ok" if ok else "fail",
        "checks": {
            r.name: {"ok": r.ok, "latency_ms": r.latency_ms}
            | ({"error": r.error} if r.error else {})
            for r in results
        },
    }
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With METRICS_TOKEN set, needs `Authorization: Bearer
    <token>`; without it, only loopback clients may scrape. Otherwise 403."""
    if not _may_scrape(request):
        return HttpResponse(
            "Forbidden: set METRICS_TOKEN and send it as a Bearer token.\n",
            status=403,
            content_type="text/plain",
        )
    return ExportToDjangoView(request)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.encode())
    try:
        return ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
