"""The operator's view: /metrics behind its token, and the analysis backlog in /healthz."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app
from inference.selectors import analysis_backlog
from sessions.models import Frame
from sessions.tests.agreeing import agree
from sessions.tests.test_upload_api import upload
from tests.support.study import make_study

TOKEN = "metrics-test-token-0123456789"
WITH_UPLOAD_COUNTS = [*settings.MIDDLEWARE, "config.metrics.UploadMetricsMiddleware"]


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@override_settings(METRICS_TOKEN="")
def test_metrics_are_not_served_without_a_token_configured(client):
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer ").status_code == 404


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_refuse_a_missing_or_wrong_token(client):
    url = reverse("metrics")
    refused = [
        client.get(url),
        client.get(url, HTTP_AUTHORIZATION="Bearer wrong-token"),
        client.get(url, HTTP_AUTHORIZATION=TOKEN),  # the scheme is part of it
        client.get(url, HTTP_AUTHORIZATION=f"Basic {TOKEN}"),
    ]
    assert [response.status_code for response in refused] == [401] * 4
    assert refused[0]["WWW-Authenticate"].startswith("Bearer")
    assert b"mimik_" not in b"".join(response.content for response in refused)


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN=TOKEN, MIDDLEWARE=WITH_UPLOAD_COUNTS)
def test_metrics_follow_uploads_outcomes_queue_and_backlog(client):
    app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete("mimik:metrics:uploads")
    study = make_study(invitations=1)
    token = study.tokens[0]
    agree(client, token)
    variant = study.variants[0]
    accepted = [upload(client, token, variant, sequence=sequence) for sequence in range(4)]
    refused = upload(client, "no-such-token", variant)
    assert [response.status_code for response in accepted] == [204] * 4 and refused.status_code == 404

    now = timezone.now()
    frames = list(Frame.objects.order_by("sequence"))
    Frame.objects.filter(pk__in=[frames[0].pk, frames[1].pk]).update(
        outcome=Frame.Outcome.PREDICTION, received_at=now - timedelta(seconds=3), outcome_at=now
    )
    Frame.objects.filter(pk=frames[2].pk).update(
        outcome=Frame.Outcome.NO_FACE, received_at=now - timedelta(seconds=1), outcome_at=now - timedelta(seconds=0.5)
    )
    Frame.objects.filter(pk=frames[3].pk).update(received_at=now - timedelta(seconds=400))

    samples = scrape(client)

    assert samples[("mimik_uploads_total", (("status", "204"),))] == 4
    assert samples[("mimik_uploads_total", (("status", "404"),))] == 1
    assert samples[("mimik_frames", (("outcome", "prediction"),))] == 2
    assert samples[("mimik_frames", (("outcome", "no_face"),))] == 1
    assert samples[("mimik_frames", (("outcome", "pending"),))] == 1
    assert samples[("mimik_frames", (("outcome", "blurred"),))] == 0
    assert samples[("mimik_queue_depth", (("queue", "inference"),))] == 4  # no worker runs here
    assert samples[("mimik_analysis_pending_frames", ())] == 1
    assert samples[("mimik_analysis_oldest_pending_age_seconds", ())] >= 400
    assert samples[("mimik_analysis_behind", ())] == 1
    # Upload to outcome: 3 s for two frames, 0.5 s for one.
    assert samples[("mimik_frame_analysis_latency_seconds_bucket", (("le", "0.5"),))] == 1
    assert samples[("mimik_frame_analysis_latency_seconds_bucket", (("le", "5.0"),))] == 3
    assert samples[("mimik_frame_analysis_latency_seconds_gsum", ())] == pytest.approx(6.5)
    # Batches: the two frames recorded together, and the one recorded alone.
    assert samples[("mimik_inference_batch_size_bucket", (("le", "1.0"),))] == 1
    assert samples[("mimik_inference_batch_size_bucket", (("le", "2.0"),))] == 2
    assert samples[("mimik_inference_batch_size_gcount", ())] == 2


@pytest.mark.django_db
def test_healthz_says_analysis_is_behind_but_stays_up(client):
    study = make_study(invitations=1)
    other = make_study(invitations=1, organisation_name="Other")
    agree(client, study.tokens[0])
    assert upload(client, study.tokens[0], study.variants[0], sequence=0).status_code == 204
    assert upload(client, study.tokens[0], study.variants[0], sequence=1).status_code == 204

    fresh = client.get(reverse("healthz")).json()["backlog"]
    assert (fresh["pending_frames"], fresh["behind"]) == (2, False)

    Frame.objects.filter(sequence=0).update(received_at=timezone.now() - timedelta(minutes=5))
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    backlog = response.json()["backlog"]
    assert backlog["pending_frames"] == 2 and backlog["behind"] is True
    assert backlog["oldest_pending_age_seconds"] >= 300 and backlog["warn_seconds"] == 120
    assert analysis_backlog(campaign_id=study.campaign.pk)["behind"] is True
    assert analysis_backlog(campaign_id=other.campaign.pk) == {
        "pending_frames": 0,
        "oldest_pending_age_seconds": 0.0,
        "warn_seconds": 120,
        "behind": False,
    }
