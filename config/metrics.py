"""GET /metrics: Prometheus figures for the operator, behind `Authorization: Bearer <METRICS_TOKEN>`.

Several processes serve and analyse (uvicorn workers, Celery pool processes), and a counter kept
in one process's memory would show only that process's share to whichever one answers the scrape.
So every figure is read at scrape time from what all processes share:

- frames by outcome, the backlog, upload-to-outcome latency and batch sizes from PostgreSQL (the
  frame rows carry `received_at`, `outcome_at`, and the worker records a batch with one UPDATE
  and one `outcome_at`, so frames sharing it are one batch);
- the queue depths from Redis (LLEN of the Celery queue lists);
- uploads by HTTP status from a Redis hash that `UploadMetricsMiddleware` increments (one HINCRBY
  per upload, shared by every web process and kept across restarts).

Latency and batch sizes cover the frames received in the last LATENCY_WINDOW_SECONDS, as gauge
histograms: a window read from the rows, not counters that would be reset with each process.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from config.celery import INFERENCE_QUEUE, SECOND_OPINION_QUEUE

logger = logging.getLogger(__name__)

UPLOADS_KEY = "mimik:metrics:uploads"  # Redis hash: HTTP status -> uploads answered with it
UPLOAD_ROUTES = {("tester-api", "frames"), ("tester-api", "frames-by-header")}
LATENCY_WINDOW_SECONDS = 300
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

_redis_client = None


def redis_client():
    """One client per process (it pools its connections); None without Redis (embedded fallback)."""
    global _redis_client
    if settings.EMBEDDED_FALLBACK:
        return None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    return _redis_client


class UploadMetricsMiddleware:
    """Counts each snapshot upload by the HTTP status it was answered with (settings.MIDDLEWARE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and (match.namespace, match.url_name) in UPLOAD_ROUTES:
            record_upload(status=response.status_code)
        return response


def record_upload(*, status: int) -> None:
    client = redis_client()
    if client is None:
        return
    try:
        client.hincrby(UPLOADS_KEY, str(status), 1)
    except Exception as error:  # a metric is never worth failing an upload for
        logger.warning("Could not count an upload: %r", error)


def _cumulative(values: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    buckets = [(floatToGoString(bound), float(sum(1 for value in values if value <= bound))) for bound in bounds]
    return [*buckets, ("+Inf", float(len(values)))]


class MimikCollector:
    """Reads every figure when Prometheus scrapes (see the module's docstring)."""

    def collect(self):
        from inference.selectors import analysis_backlog
        from sessions.models import Frame

        uploads = CounterMetricFamily("mimik_uploads", "Snapshot uploads by HTTP status.", labels=["status"])
        queue_depth = GaugeMetricFamily("mimik_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        client = redis_client()
        if client is not None:
            for status, count in sorted(client.hgetall(UPLOADS_KEY).items()):
                uploads.add_metric([status.decode()], int(count))
            for queue in (INFERENCE_QUEUE, SECOND_OPINION_QUEUE):
                queue_depth.add_metric([queue], client.llen(queue))
        yield uploads
        yield queue_depth

        frames = GaugeMetricFamily("mimik_frames", "Frames stored, by outcome.", labels=["outcome"])
        counts = dict(Frame.objects.order_by().values_list("outcome").annotate(count=Count("pk")))
        for outcome in Frame.Outcome.values:
            frames.add_metric([outcome], counts.get(outcome, 0))
        yield frames

        backlog = analysis_backlog()
        yield GaugeMetricFamily(
            "mimik_analysis_pending_frames", "Frames waiting for analysis.", value=backlog["pending_frames"]
        )
        yield GaugeMetricFamily(
            "mimik_analysis_oldest_pending_age_seconds",
            "How long the oldest frame waiting for analysis has waited.",
            value=backlog["oldest_pending_age_seconds"],
        )
        yield GaugeMetricFamily(
            "mimik_analysis_behind",
            "1 when the oldest pending frame is older than MIMIK_BACKLOG_WARN_SECONDS.",
            value=int(backlog["behind"]),
        )
        yield from self._recent_frames(Frame)

    def _recent_frames(self, Frame):
        since = timezone.now() - timedelta(seconds=LATENCY_WINDOW_SECONDS)
        recent = Frame.objects.filter(received_at__gte=since, outcome_at__isnull=False).exclude(
            outcome__in=[Frame.Outcome.PENDING, Frame.Outcome.EXPIRED]
        )
        latency = F("outcome_at") - F("received_at")
        figures = recent.aggregate(
            total=Sum(latency),
            **{
                f"le_{index}": Count("pk", filter=Q(outcome_at__lte=F("received_at") + timedelta(seconds=bound)))
                for index, bound in enumerate(LATENCY_BUCKETS)
            },
            count=Count("pk"),
        )
        buckets = [(floatToGoString(bound), float(figures[f"le_{i}"])) for i, bound in enumerate(LATENCY_BUCKETS)]
        total = figures["total"].total_seconds() if figures["total"] is not None else 0.0
        yield GaugeHistogramMetricFamily(
            "mimik_frame_analysis_latency_seconds",
            f"Upload to outcome, frames received in the last {LATENCY_WINDOW_SECONDS} s.",
            buckets=[*buckets, ("+Inf", float(figures["count"]))],
            gsum_value=total,
        )
        sizes = [size for _at, size in recent.order_by().values_list("outcome_at").annotate(size=Count("pk"))]
        yield GaugeHistogramMetricFamily(
            "mimik_inference_batch_size",
            f"Frames per worker batch, batches of the last {LATENCY_WINDOW_SECONDS} s.",
            buckets=_cumulative(sizes, BATCH_SIZE_BUCKETS),
            gsum_value=float(sum(sizes)),
        )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _space, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(), token.encode()):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MimikCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
