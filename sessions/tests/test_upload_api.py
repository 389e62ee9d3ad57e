"""The snapshot upload API against the real Redis broker (no worker: messages stay in the queue)."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Invitation
from campaigns.tokens import hash_token
from config.celery import INFERENCE_QUEUE, app
from sessions import services as tester_services
from sessions.models import Frame
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree
from tests.support.camera import jpeg_bytes
from tests.support.study import make_study, poster_png


def queued_messages() -> int:
    return redis.Redis.from_url(settings.REDIS_URL).llen(INFERENCE_QUEUE)


def upload(client, token: str | None, variant, *, sequence: int = 0, image: bytes | None = None, **extra):
    url = reverse("tester-api:frames", kwargs={"token": token}) if token else reverse("tester-api:frames-by-header")
    body = {
        "image": SimpleUploadedFile("s.jpg", jpeg_bytes() if image is None else image, "image/jpeg"),
        "variant": str(getattr(variant, "pk", variant)),
        "sequence": sequence,
        "media_time_ms": 500 * sequence,
        "captured_at": "2026-03-01T10:00:00Z",
    }
    return client.post(url, body, **extra)


@pytest.mark.django_db(transaction=True)
def test_upload_accepts_once_queues_once_and_refuses_bad_input_storing_nothing(client):
    app.control.purge()
    study = make_study(invitations=2)
    foreign = make_study(invitations=0, organisation_name="Other").variants[0]
    token = study.tokens[0]
    agree(client, token)
    variant = study.variants[1]

    first = upload(client, token, variant, sequence=3)
    repeat = upload(client, token, variant, sequence=3)

    assert first.status_code == 204 and first.content == b""
    assert repeat.status_code == 204
    assert queued_messages() == 1
    frame = Frame.objects.get()
    assert (frame.sequence, frame.media_time_ms, frame.outcome) == (3, 1500, Frame.Outcome.PENDING)
    assert frame.byte_size == len(jpeg_bytes()) and frame.captured_at.isoformat().startswith("2026-03-01T10:00")
    assert upload(client, None, variant, sequence=4, HTTP_X_TESTER_TOKEN=token).status_code == 204
    assert upload(client, token, variant, sequence=5, image=poster_png((0, 0, 0))).status_code == 204  # PNG is fine
    assert queued_messages() == 3

    refusals = {
        "unknown token": (upload(client, "no-such-token", variant), 404),
        "not consented": (upload(client, study.tokens[1], variant), 403),
        "foreign variant": (upload(client, token, foreign.pk, sequence=6), 400),
        "not an image": (upload(client, token, variant, sequence=7, image=b"GIF89a" + b"\0" * 100), 415),
        "fake jpeg": (upload(client, token, variant, sequence=8, image=b"\xff\xd8\xff" + b"junk" * 50), 415),
        "bad sequence": (upload(client, token, variant, sequence=-1), 400),
    }
    with override_settings(MIMIK={**settings.MIMIK, "FRAME_MAX_BYTES": 1000}):
        refusals["too large"] = (upload(client, token, variant, sequence=9), 413)
    for name, (response, status) in refusals.items():
        assert response.status_code == status, name
        assert set(response.json()) == {"message", "extra"}, name
    assert refusals["foreign variant"][0].json()["extra"] == {"field": "variant"}

    campaign_services.campaign_close(campaign=study.campaign)
    assert upload(client, token, variant, sequence=10).status_code == 409
    assert Frame.objects.count() == 3 and queued_messages() == 3
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_upload_rate_limit_answers_429_with_retry_after(client):
    app.control.purge()
    study = make_study(invitations=1)
    token = study.tokens[0]
    agree(client, token)

    with override_settings(MIMIK={**settings.MIMIK, "FRAME_RATE_LIMIT_PER_MINUTE": 3}):
        statuses = [upload(client, token, study.variants[0], sequence=n).status_code for n in range(8)]
        limited = upload(client, token, study.variants[0], sequence=99)

    # A minute boundary may reset the counter once in the middle; 3 per window at most either way.
    assert statuses.count(204) <= 6 and 429 in statuses
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert Frame.objects.count() == statuses.count(204)
    assert StudyTester.objects.get().frames.count() == statuses.count(204)
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_withdrawal_revocation_consent_expiry_and_a_closed_campaign_decide_the_very_next_upload(client):
    """The upload reads its tester's row, campaign status and link state on every request, in one
    query beside its one INSERT (autocommit), so every change counts at once."""
    app.control.purge()
    study = make_study(invitations=5)
    withdrawn, revoked, late, expiring, running = study.tokens
    for token in (withdrawn, revoked, expiring, running):
        agree(client, token)
    variant = study.variants[0]
    sequence = iter(range(1000))

    def accepted(token: str) -> None:
        with CaptureQueriesContext(connection) as queries:
            assert upload(client, token, variant, sequence=next(sequence)).status_code == 204
        statements = [query["sql"].split()[0] for query in queries]
        assert statements == ["SELECT", "INSERT"], [query["sql"] for query in queries]  # the gate's, the row

    def refusal(token: str) -> tuple[int, dict]:
        response = upload(client, token, variant, sequence=next(sequence))
        return response.status_code, response.json()["extra"]

    for token in (withdrawn, revoked, running):
        accepted(token)
    tester_services.tester_withdraw(tester=StudyTester.objects.get(token_hash=hash_token(withdrawn)))
    assert refusal(withdrawn) == (404, {"reason": "withdrawn"})
    campaign_services.invitation_revoke(invitation=Invitation.objects.get(token_hash=hash_token(revoked)))
    assert refusal(revoked) == (404, {"reason": "revoked"})

    # Opened but not consented yet: refused; consent counts at once.
    client.get(reverse("tester:start", kwargs={"token": late}))
    assert refusal(late)[0] == 403
    tester_services.tester_consent(tester=StudyTester.objects.get(token_hash=hash_token(late)))
    accepted(late)

    Invitation.objects.filter(token_hash=hash_token(expiring)).update(expires_at=timezone.now() + timedelta(seconds=1))
    accepted(expiring)
    time.sleep(1.1)
    assert refusal(expiring) == (404, {"reason": "expired"})

    campaign_services.campaign_close(campaign=study.campaign)
    assert refusal(running)[0] == refusal(late)[0] == 409
    assert queued_messages() == 5  # the withdrawn tester's frame went with them
    assert Frame.objects.count() == 4 and not Frame.objects.filter(tester__token_hash=hash_token(withdrawn)).exists()
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_link_revoked_or_a_campaign_closed_in_the_admin_refuses_the_very_next_upload(client, rf):
    """Support staff's edits in the admin bypass the services, yet count for the very next upload."""
    from django.contrib import admin

    from campaigns.models import Campaign

    app.control.purge()
    study = make_study(invitations=2)
    revoked, running = study.tokens
    for token in study.tokens:
        agree(client, token)
    variant = study.variants[0]
    for token in study.tokens:
        for sequence in (0, 1):
            assert upload(client, token, variant, sequence=sequence).status_code == 204
    staff = rf.post("/admin/")

    invitation = Invitation.objects.get(token_hash=hash_token(revoked))
    invitation.revoked_at = timezone.now()
    admin.site._registry[Invitation].save_model(staff, invitation, form=None, change=True)
    response = upload(client, revoked, variant, sequence=2)
    assert (response.status_code, response.json()["extra"]) == (404, {"reason": "revoked"})

    campaign = Campaign.objects.get(pk=study.campaign.pk)
    campaign.status = Campaign.Status.CLOSED
    admin.site._registry[Campaign].save_model(staff, campaign, form=None, change=True)
    assert upload(client, running, variant, sequence=2).status_code == 409
    app.control.purge()


class Endless(io.RawIOBase):
    """A request body that never ends, counting what is read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"\xff" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


@pytest.mark.django_db
def test_a_body_is_refused_by_its_declared_length_before_any_of_it_is_read(client):
    """The one size gate: a body without a Content-Length (chunked) answers 411, one declared over
    FRAME_MAX_BYTES 413, both in the one error shape, before a byte of the body is read and before
    the link is even looked up. What a body's Content-Length allows is all Django reads of it."""
    study = make_study(invitations=1)
    url = reverse("tester-api:frames", kwargs={"token": study.tokens[0]})

    def post(**meta: str) -> tuple[int, dict, int]:
        body = Endless()
        with CaptureQueriesContext(connection) as queries:
            response = client.generic("POST", url, content_type="image/jpeg", **meta, **{"wsgi.input": body})
        assert len(queries) == 0
        return response.status_code, response.json(), body.read_bytes

    chunked_status, chunked, chunked_read = post(CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert (chunked_status, set(chunked), chunked_read) == (411, {"message", "extra"}, 0)
    huge_status, huge, huge_read = post(CONTENT_LENGTH=str(50 * 1024 * 1024))
    assert (huge_status, huge["extra"], huge_read) == (413, {"max_bytes": settings.MIMIK["FRAME_MAX_BYTES"]}, 0)
    assert settings.MIMIK["FRAME_MAX_BYTES"] < settings.FILE_UPLOAD_MAX_MEMORY_SIZE  # a form's image stays in memory
    assert Frame.objects.count() == 0


@pytest.mark.django_db
def test_openapi_schema_describes_the_multipart_upload(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/t/{token}/frames/"]["post"]
    multipart = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].split("/")[-1]
    fields = schema["components"]["schemas"][multipart]["properties"]
    assert {"image", "variant", "sequence", "media_time_ms", "captured_at"} <= set(fields)
    assert fields["image"]["format"] == "binary"
    assert {"204", "404", "409", "411", "413", "415", "429", "503"} <= set(operation["responses"])
