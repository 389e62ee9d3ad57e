"""Variant uploads: checked by content, re-encoded without metadata, refused with a clear error."""

from __future__ import annotations

import io
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from campaigns.models import Variant
from campaigns.services import campaign_start, question_add
from campaigns.tests.conftest import (
    audio_only_mp4,
    image_bytes,
    make_campaign,
    mp4_bytes,
    png_claiming_size,
    stored_files,
    video_bytes,
)

SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def upload(client, campaign, name: str, content: bytes, label: str = "A"):
    url = reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})
    return client.post(url, {"label": label, "file": SimpleUploadedFile(name, content)})


def bad_uploads() -> list[tuple[str, bytes, str]]:
    jpeg = image_bytes("JPEG")
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 80).save(buffer, format="PNG")
    noisy_png = buffer.getvalue()
    return [
        ("notes.txt", b"just some text, not an image", "not a JPEG, PNG or WebP image"),
        ("logo.svg", SVG_WITH_SCRIPT, "not a JPEG, PNG or WebP image"),
        ("poster.png", noisy_png[: len(noisy_png) // 2], "cannot be read"),
        ("huge.png", png_claiming_size(8000, 5125), "41.0 megapixels; the limit is 40.0"),
        ("bomb.png", png_claiming_size(30000, 30000), "far more than 40.0 megapixels"),
        ("poster.jpg", image_bytes("PNG"), "ends in “.jpg” but the file is a PNG file"),
        ("poly.jpg", jpeg + b"<html><script>alert(document.cookie)</script></html>", "markup or script"),
        ("clip.mp4", video_bytes()[:-200], "video cannot be read"),
        ("headers.mp4", mp4_bytes(), "contains no video track"),  # a movie header, but no track to play
        ("sound.mp4", audio_only_mp4(), "contains no video track"),
        ("clip.webm", b"\x1a\x45\xdf\xa3" + b"\x00" * 60 + b"matroska", "not a WebM video"),
        ("anim.gif", b"GIF89a" + bytes(40), "not a JPEG, PNG or WebP image"),
    ]


@pytest.mark.django_db
def test_bad_uploads_get_a_clear_form_error_and_nothing_is_stored(client, personas, settings, media_root):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    for name, content, message in bad_uploads():
        response = upload(client, campaign, name, content)
        assert response.status_code == 200, name
        assert message in response.content.decode(), name
    settings.MIMIK = {**settings.MIMIK, "VARIANT_MAX_BYTES": 200_000}
    response = upload(client, campaign, "big.png", image_bytes("PNG") + bytes(300_000))
    assert "The file is 0.3 MB; the limit is 0.2 MB." in response.content.decode()
    assert not Variant.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_images_are_reencoded_without_metadata_and_videos_are_read_with_their_poster(client, personas, media_root):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    with_exif = image_bytes("JPEG", (80, 40), exif=exif.tobytes(), comment=b"<?xml tracking id 1234 ?>")
    assert b"SecretCam" in with_exif
    assert upload(client, campaign, "photo.jpeg", with_exif, "A").status_code == 302
    assert upload(client, campaign, "banner.webp", image_bytes("WEBP"), "B").status_code == 302
    assert upload(client, campaign, "clip.mp4", video_bytes(seconds=12.5, size=(160, 90)), "C").status_code == 302
    assert upload(client, campaign, "clip.webm", video_bytes("libvpx-vp9", "webm", seconds=9), "D").status_code == 302

    variants = {variant.label: variant for variant in campaign.variants.all()}
    assert [(v.kind, v.content_type) for v in variants.values()] == [
        ("image", "image/jpeg"),
        ("image", "image/webp"),
        ("video", "video/mp4"),
        ("video", "video/webm"),
    ]
    served = client.get(
        reverse("campaigns:variant_media", kwargs={"campaign_id": campaign.pk, "variant_id": variants["A"].pk})
    )
    body = b"".join(served.streaming_content)
    assert served["Content-Type"] == "image/jpeg"
    assert b"SecretCam" not in body and b"tracking" not in body
    reencoded = Image.open(io.BytesIO(body))
    assert reencoded.size == (40, 80)  # the EXIF rotation was applied before the EXIF was dropped
    assert not reencoded.getexif()
    assert (variants["A"].width, variants["A"].height) == (40, 80)
    assert "photo" not in variants["A"].file.name  # the uploader's file name is not reused
    # The two files of each image and the file and poster of each video.
    assert len(stored_files(media_root)) == 6
    assert (variants["C"].duration_ms, variants["C"].width, variants["C"].height) == (12_500, 160, 90)
    assert (variants["D"].duration_ms, variants["D"].width, variants["D"].height) == (9_000, 64, 48)
    detail = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()
    assert "12.5 s" in detail and "9 s" in detail


def poster_url(campaign, variant) -> str:
    return reverse("campaigns:variant_poster", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})


@pytest.mark.django_db
def test_a_video_gets_a_poster_shown_on_the_campaign_page_to_its_organisation_only(
    client, personas, media_root, django_capture_on_commit_callbacks
):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    # Filmed upright on a phone: stored on its side, with a display matrix that turns it.
    upright = video_bytes(seconds=5, size=(64, 48), rotation=90)
    assert upload(client, campaign, "phone.mp4", upright, "Phone").status_code == 302
    upload(client, campaign, "still.png", image_bytes("PNG"), "Still")
    video, image = campaign.variants.order_by("position")
    assert (video.width, video.height) == (48, 64)

    detail = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()
    assert f'poster="{poster_url(campaign, video)}"' in detail
    response = client.get(poster_url(campaign, video))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    still = Image.open(io.BytesIO(b"".join(response.streaming_content))).convert("RGB")
    # Upright as browsers show it: turned a quarter counter-clockwise, the green left half is below.
    assert still.size == (48, 64)
    top, bottom = still.getpixel((24, 8)), still.getpixel((24, 56))
    assert bottom[1] > 150 > bottom[0] and top[0] > 150 > top[1]
    assert client.get(poster_url(campaign, image)).status_code == 404  # images are their own preview

    client.force_login(personas.outsider)
    assert client.get(poster_url(campaign, video)).status_code == 404
    client.logout()
    assert client.get(poster_url(campaign, video)).status_code == 302  # to the login page

    client.force_login(personas.owner)
    edit = reverse("campaigns:variant_edit", kwargs={"campaign_id": campaign.pk, "variant_id": video.pk})
    old_poster = video.poster.name
    with django_capture_on_commit_callbacks(execute=True):
        client.post(edit, {"label": "Phone", "file": SimpleUploadedFile("new.png", image_bytes("PNG"))})
    video.refresh_from_db()
    assert (video.kind, video.poster.name) == ("image", "")
    assert not (media_root / old_poster).exists()
    for variant in (video, image):
        delete = reverse("campaigns:variant_delete", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})
        with django_capture_on_commit_callbacks(execute=True):
            client.post(delete)
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_videos_browsers_cannot_play_are_refused_naming_what_plays(client, personas, media_root):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    what_plays = "They play H.264 in MP4 with 8-bit 4:2:0 colour (yuv420p), or VP8, VP9 or AV1 in WebM."
    for name, video, named in [
        ("camera.mp4", video_bytes("mpeg4"), "(MPEG-4 Part 2 in MP4)"),
        ("phone.mp4", video_bytes("libx265"), "(HEVC/H.265 in MP4)"),
        ("graded.mp4", video_bytes(pix_fmt="yuv420p10le"), "(H.264, yuv420p10le in MP4)"),
    ]:
        page = upload(client, campaign, name, video).content.decode()
        assert f"Browsers cannot play this video {named}. {what_plays}" in page, name
    assert not campaign.variants.exists() and stored_files(media_root) == []

    assert upload(client, campaign, "h264.mp4", video_bytes(), "H.264").status_code == 302
    assert upload(client, campaign, "vp8.webm", video_bytes("libvpx", "webm"), "VP8").status_code == 302
    assert list(campaign.variants.values_list("content_type", flat=True)) == ["video/mp4", "video/webm"]


@pytest.mark.django_db
def test_damaged_videos_get_a_form_error_never_a_server_error(client, personas, media_root):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    rng = random.Random(20)
    originals = {"mp4": video_bytes(seconds=5), "webm": video_bytes("libvpx-vp9", "webm", seconds=5)}
    for attempt in range(40):
        extension = rng.choice(sorted(originals))
        damaged = bytearray(originals[extension])
        for _ in range(rng.choice([1, 4, 16])):
            position = rng.randrange(len(damaged))
            if rng.random() < 0.7:
                damaged[position] = rng.randrange(256)
            else:
                del damaged[position : position + rng.randrange(1, 64)]
        response = upload(client, campaign, f"clip.{extension}", bytes(damaged), f"V{attempt}")
        assert response.status_code in (200, 302), attempt
        if response.status_code == 200:
            assert 'class="errorlist' in response.content.decode(), attempt


@pytest.mark.django_db
def test_large_images_are_stored_at_most_2560_pixels_wide_and_upright(client, personas):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    # A camera's 6000×4500 photo, to be shown turned a quarter clockwise (EXIF orientation 6).
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = Image.linear_gradient("L").resize((6000, 4500)).convert("RGB")
    photo.paste((0, 200, 0), (0, 0, 3000, 4500))  # the left half green
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    original = buffer.getvalue()
    assert upload(client, campaign, "camera.jpg", original).status_code == 302

    variant = campaign.variants.get()
    assert (variant.width, variant.height, variant.content_type) == (1920, 2560, "image/jpeg")
    stored = variant.file.read()
    assert len(stored) < len(original) / 4
    image = Image.open(io.BytesIO(stored))
    assert image.size == (1920, 2560) and image.format == "JPEG"
    # Turned clockwise, the green left half is at the top.
    assert image.getpixel((960, 100))[1] > 150 > image.getpixel((960, 2460))[1]

    png = io.BytesIO()
    Image.new("RGBA", (3000, 1000), (0, 0, 255, 128)).save(png, format="PNG")
    assert upload(client, campaign, "banner.png", png.getvalue(), "B").status_code == 302
    banner = campaign.variants.get(label="B")
    assert (banner.width, banner.height, banner.content_type) == (2560, 853, "image/png")
    assert Image.open(banner.file).mode == "RGBA"
    form = client.get(reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})).content.decode()
    assert "stored at most 2560 pixels on its longest side" in form


@pytest.mark.django_db
def test_videos_are_served_in_ranges_so_browsers_can_seek(client, personas, media_root):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    video = video_bytes()
    assert upload(client, campaign, "clip.mp4", video, "A").status_code == 302
    variant = campaign.variants.get()
    url = reverse("campaigns:variant_media", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})

    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == video

    middle = client.get(url, HTTP_RANGE="bytes=10-19")
    assert middle.status_code == 206
    assert middle["Content-Range"] == f"bytes 10-19/{len(video)}"
    assert b"".join(middle.streaming_content) == video[10:20]

    tail = client.get(url, HTTP_RANGE="bytes=-16")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == video[-16:]
    open_ended = client.get(url, HTTP_RANGE=f"bytes={len(video) - 5}-")
    assert b"".join(open_ended.streaming_content) == video[-5:]

    outside = client.get(url, HTTP_RANGE=f"bytes={len(video)}-")
    assert outside.status_code == 416 and outside["Content-Range"] == f"bytes */{len(video)}"
    client.logout()
    assert client.get(url, HTTP_RANGE="bytes=0-9").status_code == 302  # still login first


@pytest.mark.django_db
def test_variants_and_survey_are_locked_once_the_campaign_runs(client, personas):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    detail = reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})
    start = reverse("campaigns:start", kwargs={"campaign_id": campaign.pk})

    response = client.post(start, follow=True)
    page = response.content.decode()
    assert "The campaign cannot start yet" in page
    assert "Add at least two variants." in page
    assert "Add at least one rating-scale question" in page

    upload(client, campaign, "a.png", image_bytes("PNG"), "A")
    upload(client, campaign, "b.png", image_bytes("PNG", colour=(0, 0, 255)), "B")
    question_add(campaign=campaign, kind="scale", text="How much do you like it?", min_label="not", max_label="very")
    client.post(start)
    campaign.refresh_from_db()
    assert campaign.status == "running"

    response = upload(client, campaign, "c.png", image_bytes("PNG"), "C")
    assert "cannot change once the campaign has started" in response.content.decode()
    variant = campaign.variants.first()
    delete = reverse("campaigns:variant_delete", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})
    assert "cannot change once" in client.post(delete, follow=True).content.decode()
    assert campaign.variants.count() == 2
    assert "Add a variant" not in client.get(detail).content.decode()


@pytest.mark.django_db
def test_consent_edits_after_a_consent_make_a_new_version(client, personas):
    campaign = make_campaign(personas, consent_text="Version one.")
    client.force_login(personas.owner)
    edit = reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk})
    form = client.get(edit).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None and name != "consent_text"}
    data["keep_frames"] = ""

    client.post(edit, {**data, "consent_text": "Version one, typo fixed."})
    assert list(campaign.consent_versions.values_list("version", "text")) == [(1, "Version one, typo fixed.")]

    campaign.testers.create(token_hash="x" * 64, consent_version=campaign.consent_versions.get())
    response = client.post(edit, {**data, "consent_text": "Version two."})
    assert response.status_code == 302
    assert list(campaign.consent_versions.values_list("version", "text")) == [
        (2, "Version two."),
        (1, "Version one, typo fixed."),
    ]
    assert "version 2" in client.get(response.url).content.decode()

    response = client.post(edit, {**data, "consent_text": "x", "capture_interval_seconds": "0.2"})
    assert "Ensure this value is greater than or equal to 0.5" in response.content.decode()


@pytest.mark.django_db
def test_a_started_campaign_cannot_start_keeping_snapshots_or_keep_them_longer(client, personas):
    """Its testers were told whether and for how long their snapshots are kept."""
    campaign = make_campaign(personas, consent_text="Consent.")
    client.force_login(personas.owner)
    upload(client, campaign, "a.png", image_bytes("PNG"), "A")
    upload(client, campaign, "b.png", image_bytes("PNG", colour=(0, 0, 255)), "B")
    question_add(campaign=campaign, kind="scale", text="Like it?")
    campaign_start(campaign=campaign)
    edit = reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk})
    form = client.get(edit).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data["keep_frames"] = ""

    response = client.post(edit, {**data, "keep_frames": "on", "name": "Renamed"})
    assert response.status_code == 200
    assert "cannot be switched on or made longer now" in response.content.decode()
    campaign.refresh_from_db()
    assert (campaign.keep_frames, campaign.name) == (False, "Herbst")

    # Keeping less stays possible: a campaign that keeps may stop keeping, or keep for fewer days.
    campaign.__class__.objects.filter(pk=campaign.pk).update(keep_frames=True, frame_retention_days=30)
    data["keep_frames"] = "on"
    response = client.post(edit, {**data, "frame_retention_days": "31"})
    assert "cannot be switched on or made longer now" in response.content.decode()
    assert client.post(edit, {**data, "frame_retention_days": "7"}).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.keep_frames, campaign.frame_retention_days) == (True, 7)
    assert client.post(edit, {**data, "keep_frames": ""}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.keep_frames is False


@pytest.mark.django_db
def test_duplicate_and_archive(client, personas):
    campaign = make_campaign(personas, image_display_seconds=7)
    client.force_login(personas.owner)
    upload(client, campaign, "a.png", image_bytes("PNG"), "A")
    upload(client, campaign, "b.mp4", video_bytes(), "B")
    question_add(campaign=campaign, kind="scale", text="Like it?")

    response = client.post(reverse("campaigns:duplicate", kwargs={"campaign_id": campaign.pk}))
    copy = personas.organisation.campaigns.exclude(pk=campaign.pk).get()
    assert response.url == reverse("campaigns:detail", kwargs={"campaign_id": copy.pk})
    assert (copy.name, copy.status, copy.image_display_seconds) == ("Copy of Herbst", "draft", 7)
    assert list(copy.variants.values_list("label", flat=True)) == ["A", "B"]
    assert copy.variants.get(label="A").file.name != campaign.variants.get(label="A").file.name
    video, original = copy.variants.get(label="B"), campaign.variants.get(label="B")
    assert video.poster and video.poster.name != original.poster.name
    assert video.poster.read() == original.poster.read()
    assert list(copy.questions.values_list("text", flat=True)) == ["Like it?"]
    assert copy.consent_versions.get().text == campaign.consent_versions.get().text

    client.post(reverse("campaigns:archive", kwargs={"campaign_id": campaign.pk}))
    listing = client.get(reverse("campaigns:list")).content.decode()
    assert "Copy of Herbst" in listing and ">Herbst<" not in listing
    assert ">Herbst<" in client.get(reverse("campaigns:list") + "?archived=1").content.decode()
    with pytest.raises(Exception, match="Restore the campaign"):
        campaign_start(campaign=campaign)
