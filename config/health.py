"""GET /healthz: is every part this deployment depends on ready? 200 if so, 503 naming the part."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as error:  # any driver error means "not ready"; the message says which
        return False, f"unavailable: {error.__class__.__name__}"


def check_redis() -> tuple[bool, str]:
    if settings.EMBEDDED_FALLBACK:
        return True, "embedded fallback (no Redis configured)"
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return True, "ok"
    except (redis.RedisError, OSError) as error:
        return False, f"unavailable: {error.__class__.__name__}"


def check_model() -> tuple[bool, str]:
    from inference.selectors import model_health

    try:
        return model_health()
    except Exception as error:  # the registry lives in the database: down with it, not a 500
        return False, f"unknown: {error.__class__.__name__}"


def backlog() -> dict | None:
    """Analysis running behind is not a failure (nothing is lost, uploads go on), so it never turns
    healthz into a 503; it is reported for the operator to see. None when the database is away."""
    from inference.selectors import analysis_backlog

    try:
        return analysis_backlog()
    except Exception:  # the database check above names the cause
        return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "redis": check_redis(), "model": check_model()}
    failing = [name for name, (ready, _detail) in checks.items() if not ready]
    body = {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checks": {name: {"ok": ready, "detail": detail} for name, (ready, detail) in checks.items()},
    }
    body["backlog"] = backlog()
    response = JsonResponse(body, status=200 if not failing else 503)
    if failing:
        response["Retry-After"] = "10"
    return response
