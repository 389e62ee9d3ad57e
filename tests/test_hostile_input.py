"""Hostile input: the API fuzzed from its own OpenAPI schema, and crafted files against the snapshot
upload (tester side) and the variant upload (researcher side). Refused means the right status in
the one error shape and nothing stored: no row, no queued message, no file."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
import redis
import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis.checks import not_a_server_error, response_schema_conformance

from campaigns.models import Invitation, Membership, Variant
from config.celery import INFERENCE_QUEUE, app
from config.wsgi import application
from inference import sample_frames
from sessions import services as tester_services
from sessions.models import Frame
from tests.support.study import make_study


def queued() -> int:
    return redis.Redis.from_url(settings.REDIS_URL).llen(INFERENCE_QUEUE)


def consenting_tester(study, index: int = 0):
    invitation = Invitation.objects.filter(campaign=study.campaign).order_by("created_at")[index]
    tester = tester_services.tester_create_for_invitation(invitation=invitation)
    return tester_services.tester_consent(tester=tester)


# --- Fuzzing from the schema -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fuzzing_every_api_operation_from_the_schema_finds_no_5xx_and_only_documented_answers(client):
    """Every operation, anonymous and as a researcher; tester routes with a real consenting tester's
    token half the time, so the fuzzer reaches the upload service itself, not just the 404."""
    app.control.purge()
    study = make_study(invitations=1)
    tester = consenting_tester(study)
    user = get_user_model().objects.create_user("fuzz", password="x" * 20)
    Membership.objects.create(user=user, organisation=study.campaign.organisation)
    client.force_login(user)
    session_id = client.cookies["sessionid"].value
    schema = schemathesis.from_wsgi("/api/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.definition.raw["operationId"] for op in operations} >= {"tester_frame_upload", "tester_camera_check"}

    for operation in operations:
        strict = operation.definition.raw["operationId"].startswith("tester_")

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            if "token" in (case.path_parameters or {}) and case.path_parameters.get("token", "")[:1] in "abcdefghijklm":
                case.path_parameters["token"] = study.tokens[0]
            if (
                "campaign_id" in (case.path_parameters or {})
                and (case.path_parameters["campaign_id"] or "0")[0] in "0123"
            ):
                case.path_parameters["campaign_id"] = str(study.campaign.pk)
            case.cookies = {**(case.cookies or {}), "sessionid": session_id}
            response = case.call_wsgi()
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)
            if strict:  # noqa: B023 - fuzz() runs inside this loop iteration
                case.validate_response(response)
            else:
                # The dashboard API (another engineer's) does not document its 403/404 yet: reported.
                # Until then: no 5xx, the schema everywhere it is documented, the one error shape.
                case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))
                if response.status_code >= 400:
                    assert set(response.json) == {"message", "extra"}

        fuzz()
    assert Frame.objects.filter(tester=tester).count() == queued()  # whatever was accepted was queued once
    app.control.purge()


# --- Crafted files against the snapshot upload ---------------------------------------------------


def jpeg(size=(640, 480), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 100, 90)).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def hostile_snapshots() -> dict[str, tuple[bytes, int]]:
    face = sample_frames.face_jpeg()
    exif = Image.Exif()
    exif[0x010F] = "x" * 40_000  # a 40 KB EXIF block in a file well under the size limit
    return {
        "decompression bomb (PNG header claims 30000x30000)": (png_claiming(30000, 30000), 415),
        "pixel bomb (a real 5000x4000 JPEG, small file)": (jpeg((5000, 4000), quality=10), 413),
        "truncated JPEG": (face[: len(face) // 2], 415),
        "JPEG with a huge EXIF block": (jpeg(exif=exif.tobytes()), 415),
        "SVG with script": (SVG, 415),
        "polyglot: JPEG with HTML appended": (face + b"<html><script>alert(document.cookie)</script></html>", 415),
        "polyglot: script in a JPEG comment": (jpeg(comment=b"<script>alert(1)</script>"), 415),
        "HTML named .jpg": (b"<html><body>hi</body></html>", 415),
    }


@pytest.mark.django_db(transaction=True)
def test_hostile_snapshots_are_refused_with_the_right_status_and_nothing_is_stored_or_queued(client):
    app.control.purge()
    study = make_study(invitations=1)
    tester = consenting_tester(study)
    url = reverse("tester-api:frames", kwargs={"token": study.tokens[0]})
    variant = tester.variant_order[0]

    def send(content: bytes, sequence: int, content_type: str = "image/jpeg"):
        image = SimpleUploadedFile("snapshot.jpg", content, content_type)
        return client.post(url, {"image": image, "variant": variant, "sequence": sequence, "media_time_ms": 0})

    def send_raw(content: bytes, sequence: int, content_type: str = "image/jpeg"):
        """As the tester page sends it: the file is the body, the fields are headers."""
        return client.post(
            url,
            content,
            content_type=content_type,
            HTTP_X_SNAPSHOT_VARIANT=variant,
            HTTP_X_SNAPSHOT_SEQUENCE=str(sequence),
            HTTP_X_SNAPSHOT_MEDIA_TIME_MS="0",
        )

    for sequence, (name, (content, status)) in enumerate(hostile_snapshots().items()):
        for sender, content_type in ((send, "image/jpeg"), (send_raw, "image/jpeg"), (send_raw, "image/svg+xml")):
            response = sender(content, sequence, content_type)
            assert response.status_code == status, (name, sender.__name__, content_type)
            assert set(response.json()) == {"message", "extra"}, name
    # 50 MB body: refused from its Content-Length, before the body is parsed.
    huge = client.post(
        url, data=b"x" * (50 * 1024 * 1024), content_type="multipart/form-data; boundary=zzz", HTTP_X_NOTHING="1"
    )
    assert huge.status_code == 413 and set(huge.json()) == {"message", "extra"}
    assert send_raw(b"\xff\xd8\xff" + b"x" * (50 * 1024 * 1024), 99).status_code == 413
    assert Frame.objects.count() == 0 and queued() == 0

    # The checks do not refuse what a real camera page sends: a canvas JPEG, and a PNG.
    assert send(sample_frames.face_jpeg(), 100).status_code == 204
    png = io.BytesIO()
    Image.open(io.BytesIO(sample_frames.face_jpeg())).save(png, "PNG")
    assert send(png.getvalue(), 101, "image/png").status_code == 204
    assert send_raw(sample_frames.face_jpeg(), 102).status_code == 204
    assert send_raw(png.getvalue(), 103, "image/png").status_code == 204
    assert send_raw(sample_frames.face_jpeg(), 102).status_code == 204  # a client's retry: stored once
    assert Frame.objects.count() == 4 and queued() == 4
    app.control.purge()


@pytest.mark.django_db
def test_variant_images_reach_testers_re_encoded_without_metadata_and_svg_is_refused(client, tmp_path, settings):
    from campaigns.tests.conftest import make_researcher

    settings.MEDIA_ROOT = tmp_path / "media"
    study = make_study(invitations=1, status="draft")
    owner = make_researcher("owner", study.campaign.organisation)
    client.force_login(owner)
    add_url = reverse("campaigns:variant_add", kwargs={"campaign_id": study.campaign.pk})
    exif = Image.Exif()
    exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPS latitude
    exif[0x010F] = "SecretCam"
    photo = jpeg((200, 100), exif=exif.tobytes(), comment=b"tracking-id-1234")
    assert b"SecretCam" in photo and b"tracking-id-1234" in photo

    refused = client.post(add_url, {"label": "S", "file": SimpleUploadedFile("logo.svg", SVG, "image/svg+xml")})
    added = client.post(add_url, {"label": "Photo", "file": SimpleUploadedFile("p.jpg", photo, "image/jpeg")})

    assert refused.status_code == 200 and "not a JPEG, PNG or WebP image" in refused.content.decode()
    assert added.status_code == 302
    variant = Variant.objects.get(label="Photo")
    study.campaign.variants.exclude(pk=variant.pk).delete()
    study.campaign.status = "running"
    study.campaign.save(update_fields=["status"])
    tester = consenting_tester(study)
    assert tester.variant_order == [str(variant.pk)]
    client.logout()
    served = client.get(reverse("tester:media", kwargs={"token": study.tokens[0], "variant_id": variant.pk}))
    body = b"".join(served.streaming_content)
    assert served.status_code == 200 and body[:3] == b"\xff\xd8\xff"
    assert b"SecretCam" not in body and b"tracking-id-1234" not in body
    assert not Image.open(io.BytesIO(body)).getexif()


# --- Bodies the server must not read, through production's HTTP server ---------------------------


def answer_to(url: str, head: str, body_chunks: list[bytes]) -> tuple[int, dict, int]:
    """Send `head`, then `body_chunks` while the server has not answered and still reads; read its
    answer. Returns (status, JSON body, bytes of body the server took before answering)."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(url)
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head.encode("latin-1"))
        connection.settimeout(0.05)
        received = b""
        for chunk in body_chunks:
            try:
                received = connection.recv(65536)
                break
            except TimeoutError:
                pass
            try:
                sent += connection.send(chunk)
            except TimeoutError:  # the server reads nothing more: its answer is on the way
                break
        connection.settimeout(10)
        while b"\r\n\r\n" not in received:
            received += connection.recv(65536)
        head_part, _, rest = received.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head_part.decode("latin-1").split("\r\n")[1:])
        while len(rest) < int(headers["Content-Length"]):
            rest += connection.recv(65536)
    return int(head_part.split()[1]), json.loads(rest), sent


@pytest.mark.django_db(transaction=True)
def test_a_body_without_or_beyond_its_limit_is_answered_before_it_is_read_and_nothing_is_stored(tmp_path):
    """Through gunicorn (config.wsgi, as production serves HTTP): a snapshot sent chunked, without
    a Content-Length, answers 411, and one that declares more than FRAME_MAX_BYTES answers 413,
    both in the one error shape, while the client is still sending (50 MB would follow). Django
    reads no further than a Content-Length, so what fits is all that is ever read: nothing is
    spooled to disk, stored or queued."""
    from conftest import child_environment
    from tests.load.servers import gunicorn_server

    app.control.purge()
    study = make_study(invitations=1)
    tester = consenting_tester(study)
    head = (
        f"POST /api/t/{study.tokens[0]}/frames/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
        f"X-Snapshot-Variant: {tester.variant_order[0]}\r\nX-Snapshot-Sequence: 0\r\nX-Snapshot-Media-Time-Ms: 0\r\n"
    )
    megabyte = b"\xff" * (1024 * 1024)
    with gunicorn_server(child_environment(), tmp_path / "gunicorn.log", threads=2) as url:
        chunked = answer_to(url, head + "Transfer-Encoding: chunked\r\n\r\n", [b"100000\r\n" + megabyte + b"\r\n"] * 50)
        declared = answer_to(url, head + f"Content-Length: {50 * len(megabyte)}\r\n\r\n", [megabyte] * 50)
    assert chunked[0] == 411 and set(chunked[1]) == {"message", "extra"} and chunked[2] < 50 * len(megabyte)
    assert declared[0] == 413 and declared[1]["extra"] == {"max_bytes": settings.MIMIK["FRAME_MAX_BYTES"]}
    assert declared[2] < 50 * len(megabyte)
    assert Frame.objects.count() == 0 and queued() == 0
