"""The tester's own baseline: snapshots of their face on the camera page, before any advertisement.
The upload API (the frame upload's gate, limits and rate limit), the posed expressions a campaign
may ask for (and the consent page that then says so), withdrawal, the data download, and the real
worker giving each snapshot exactly one outcome."""

from __future__ import annotations

import html
import re

import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from campaigns import services as campaign_services
from campaigns.models import Campaign
from campaigns.tests.conftest import make_researcher
from campaigns.tokens import hash_token
from config.celery import INFERENCE_QUEUE, app
from inference import sample_frames
from inference.models import ModelVersion
from inference.tasks import analyse_baseline_snapshot, analyse_baseline_snapshot_now
from inference.tests.conftest import wait_until
from sessions import services as tester_services
from sessions.models import BaselineSnapshot, Frame
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree
from tests.support.camera import jpeg_bytes
from tests.support.study import make_study

POSED_SENTENCE = "You are also asked for a brief smile and a neutral face"
RESTING_SENTENCE = "Before the first advertisement, the page takes 3 snapshots of your relaxed face"


def queued_messages() -> int:
    return redis.Redis.from_url(settings.REDIS_URL).llen(INFERENCE_QUEUE)


def send(client, token: str, kind: str = "resting", *, sequence: int = 0, image: bytes | None = None, **form):
    """What the camera page sends: the JPEG as the body, the fields in X-Snapshot-* headers."""
    return client.post(
        reverse("tester-api:baseline", kwargs={"token": token}),
        jpeg_bytes() if image is None else image,
        content_type="image/jpeg",
        HTTP_X_SNAPSHOT_KIND=kind,
        HTTP_X_SNAPSHOT_SEQUENCE=str(sequence),
        HTTP_X_SNAPSHOT_CAPTURED_AT="2026-03-01T10:00:00Z",
        **form,
    )


def words(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def camera_plan(client, token: str) -> str:
    page = client.get(reverse("tester:camera", kwargs={"token": token})).content.decode()
    return re.search(r'id="baseline" data-url="[^"]*" data-plan="([^"]*)"', page).group(1)


def stored_tester(token: str) -> StudyTester:
    return StudyTester.objects.get(token_hash=hash_token(token))


@pytest.mark.django_db(transaction=True)
def test_baseline_upload_accepts_once_and_refuses_like_the_frame_upload(client):
    app.control.purge()
    study = make_study(invitations=2)
    token = study.tokens[0]
    agree(client, token)

    first = send(client, token, sequence=2)
    repeat = send(client, token, sequence=2)
    form = client.post(
        reverse("tester-api:baseline", kwargs={"token": token}),
        {"image": SimpleUploadedFile("s.jpg", jpeg_bytes(), "image/jpeg"), "kind": "resting", "sequence": 0},
    )

    assert first.status_code == repeat.status_code == form.status_code == 204
    assert queued_messages() == 2  # the repeat was not queued again
    snapshots = BaselineSnapshot.objects.order_by("sequence")
    assert [(s.kind, s.sequence, s.outcome) for s in snapshots] == [
        ("resting", 0, "pending"),
        ("resting", 2, "pending"),
    ]
    assert snapshots[1].byte_size == len(jpeg_bytes()) and snapshots[1].captured_at.isoformat().startswith("2026-03-01")
    assert not Frame.objects.exists()  # not a frame of any variant

    refusals = {
        "unknown token": (send(client, "no-such-token"), 404),
        "not consented": (send(client, study.tokens[1]), 403),
        "unknown kind": (send(client, token, "grimace"), 400),
        "beyond the page's snapshots": (send(client, token, sequence=3), 400),
        "posed, not asked for": (send(client, token, "posed_smile"), 400),
        "not an image": (send(client, token, sequence=1, image=b"GIF89a" + b"\0" * 100), 415),
    }
    with override_settings(MIMIK={**settings.MIMIK, "FRAME_MAX_BYTES": 1000}):
        refusals["too large"] = (send(client, token, sequence=1), 413)
    for name, (response, status) in refusals.items():
        assert response.status_code == status, name
        assert set(response.json()) == {"message", "extra"}, name
    with override_settings(MIMIK={**settings.MIMIK, "FRAME_RATE_LIMIT_PER_MINUTE": 1}):
        # The frames' limit, on the frames' counter; a minute boundary may reset it once.
        limited = [send(client, token, sequence=1) for _ in range(2)]
    assert [response.status_code for response in limited].count(429) >= 1
    assert all(0 < int(r["Retry-After"]) <= 60 for r in limited if r.status_code == 429)
    accepted = 2 + any(response.status_code == 204 for response in limited)

    campaign_services.campaign_close(campaign=study.campaign)
    assert send(client, token, sequence=1).status_code == 409
    assert BaselineSnapshot.objects.count() == queued_messages() == accepted
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_posed_expressions_only_when_the_campaign_asks_and_the_consent_page_said_so(client):
    app.control.purge()
    study = make_study(invitations=3)
    plain, told, late = study.tokens
    start = reverse("tester:start", kwargs={"token": plain})

    page = words(client.get(start))
    assert RESTING_SENTENCE in page and "never stored" in page and "deleted if you withdraw" in page
    assert POSED_SENTENCE not in page
    agree(client, plain)
    assert camera_plan(client, plain) == "resting:3"

    Campaign.objects.filter(pk=study.campaign.pk).update(posed_expressions=True)
    page = words(client.get(reverse("tester:start", kwargs={"token": told})))
    assert POSED_SENTENCE in page and "2 snapshots of each" in page
    agree(client, told)
    assert stored_tester(told).posed_expressions
    assert camera_plan(client, told) == "resting:3 posed_smile:2 posed_neutral:2"
    assert send(client, told, "posed_smile", sequence=1).status_code == 204
    assert send(client, told, "posed_neutral", sequence=2).status_code == 400  # two of each

    # Switched on after this tester's page was shown without the sentence: never asked.
    assert camera_plan(client, plain) == "resting:3"
    assert send(client, plain, "posed_smile").status_code == 400
    page_without = client.get(reverse("tester:start", kwargs={"token": late})).content.decode()
    Campaign.objects.filter(pk=study.campaign.pk).update(posed_expressions=False)
    assert "consent_posed" in page_without
    # Switched off after the sentence was shown: not asked either.
    assert camera_plan(client, told) == "resting:3"
    assert send(client, told, "posed_smile").status_code == 400

    # Kinds already recorded (a reload of the camera page) are not asked for again.
    Campaign.objects.filter(pk=study.campaign.pk).update(posed_expressions=True)
    assert send(client, told, "resting").status_code == 204
    assert camera_plan(client, told) == "posed_neutral:2"  # a posed smile came above
    app.control.purge()


@pytest.mark.django_db
def test_the_campaign_form_turns_posed_expressions_on(client):
    study = make_study(invitations=0)
    client.force_login(make_researcher("owner", study.campaign.organisation))
    url = reverse("campaigns:create")
    assert "ask for posed expressions" in client.get(url).content.decode().lower()
    values = {
        "name": "Posed",
        "language": "en",
        "capture_interval_seconds": "2",
        "image_display_seconds": "10",
        "min_frames_per_tester": "3",
        "confidence_threshold": "0.8",
        "order_mode": "counterbalanced",
        "frame_retention_days": "30",
        "invitation_ttl_days": "14",
        "open_link_quota": "0",
        "consent_text": "I agree.",
    }
    client.post(url, {**values, "posed_expressions": "on"})
    client.post(url, {**values, "name": "Plain"})
    assert dict(Campaign.objects.filter(name__in=["Posed", "Plain"]).values_list("name", "posed_expressions")) == {
        "Posed": True,
        "Plain": False,
    }


@pytest.mark.django_db
def test_withdrawal_deletes_the_baseline_and_the_download_lists_it(client):
    study = make_study(invitations=2)
    token, other = study.tokens
    for each in (token, other):
        agree(client, each)
    tester = stored_tester(token)
    model = ModelVersion.objects.get(is_active=True)
    BaselineSnapshot.objects.create(
        campaign=study.campaign,
        tester=tester,
        kind="resting",
        sequence=0,
        outcome="prediction",
        model_version=model,
        probabilities={"happy": 0.7, "sad": 0.3},
        top_class="happy",
        top_probability=0.7,
    )
    BaselineSnapshot.objects.create(
        campaign=study.campaign, tester=tester, kind="resting", sequence=1, outcome="no_face"
    )
    BaselineSnapshot.objects.create(campaign=study.campaign, tester=stored_tester(other), kind="resting", sequence=0)

    data = client.get(reverse("tester:my_data", kwargs={"token": token})).json()

    assert [(s["kind"], s["sequence"], s["outcome"], s["top_class"]) for s in data["baseline_snapshots"]] == [
        ("resting", 0, "prediction", "happy"),
        ("resting", 1, "no_face", None),
    ]
    assert data["baseline_snapshots"][0]["probabilities"] == {"happy": 0.7, "sad": 0.3}
    assert data["baseline_snapshots"][0]["model"] == str(model)

    tester_services.tester_withdraw(tester=tester)

    assert list(BaselineSnapshot.objects.values_list("tester_id", flat=True)) == [stored_tester(other).pk]


@pytest.mark.django_db(transaction=True)
def test_the_worker_gives_each_baseline_snapshot_exactly_one_outcome(client, celery_worker):
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(posed_expressions=True)
    token = study.tokens[0]
    agree(client, token)
    sent = {
        ("resting", 0): sample_frames.face_jpeg(),
        ("resting", 1): sample_frames.blank_jpeg(),
        ("resting", 2): sample_frames.dark_jpeg(),
        ("posed_smile", 0): sample_frames.face_jpeg(),
    }
    for (kind, sequence), image in sent.items():
        assert send(client, token, kind, sequence=sequence, image=image).status_code == 204
    assert send(client, token, "resting", sequence=0).status_code == 204  # a retry: not queued again

    pending = BaselineSnapshot.objects.filter(outcome=BaselineSnapshot.Outcome.PENDING)
    wait_until(lambda: not pending.exists(), timeout=90, message=celery_worker.log())

    snapshots = {(s.kind, s.sequence): s for s in BaselineSnapshot.objects.select_related("model_version")}
    assert {key: s.outcome for key, s in snapshots.items()} == {
        ("resting", 0): "prediction",
        ("resting", 1): "no_face",
        ("resting", 2): "too_dark",
        ("posed_smile", 0): "prediction",
    }
    face = snapshots[("resting", 0)]
    assert face.model_version.is_active and face.top_class == "happy"  # the astronaut smiles
    assert set(face.probabilities) == set(face.model_version.class_names)
    assert abs(sum(face.probabilities.values()) - 1) < 1e-3
    assert face.calibration_version and set(face.calibrated_probabilities) == set(face.probabilities)
    assert face.face_box and face.quality
    assert snapshots[("resting", 1)].probabilities is None and not snapshots[("resting", 1)].model_version

    # A redelivered message, in the worker and in-process, finds nothing left to do.
    recorded_at = face.outcome_at
    redelivered = analyse_baseline_snapshot.apply_async(args=[face.pk, sample_frames.blank_jpeg()])
    assert analyse_baseline_snapshot_now(snapshot_id=face.pk, image_bytes=sample_frames.blank_jpeg()) is None
    wait_until(lambda: f"[{redelivered.id}] succeeded" in celery_worker.log(), message=celery_worker.log())
    face.refresh_from_db()
    assert (face.outcome, face.outcome_at, face.top_class) == ("prediction", recorded_at, "happy")
    assert not Frame.objects.exists()
