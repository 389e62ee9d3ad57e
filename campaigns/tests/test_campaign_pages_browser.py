"""The campaign pages' own behaviour in real Chromium, without a server: the snapshot counts the
form redoes as the researcher types, and that the videos the upload accepts are the ones a browser
plays (and one it refuses is one the browser cannot)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.media_validation import validate_variant_upload
from campaigns.tests.conftest import make_campaign, video_bytes

FORM_SCRIPT = Path(settings.BASE_DIR) / "static" / "js" / "campaign_form.js"


@pytest.mark.browser
@pytest.mark.django_db
def test_the_campaign_form_recounts_snapshots_as_the_researcher_types(client, personas, request):
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    add = reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})
    client.post(add, {"label": "Clip", "file": SimpleUploadedFile("clip.mp4", video_bytes(seconds=6.5))})
    form = client.get(reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk})).content.decode()

    # Chromium only now: while Playwright runs, database calls would leave the test's transaction.
    page = request.getfixturevalue("browser").new_page()
    page.set_content(form)
    page.add_script_tag(content=FORM_SCRIPT.read_text())
    lines = page.locator("#snapshot-preview li")
    assert lines.nth(0).inner_text() == "An image shown 10 s gives 5 snapshots at one every 2 s."
    assert lines.nth(1).inner_text() == "The video “Clip” (6.5 s) gives 4 snapshots at one every 2 s."

    page.fill("#id_image_display_seconds", "3")
    page.fill("#id_capture_interval_seconds", "2.5")
    short = "An image shown 3 s gives 2 snapshots at one every 2.5 s. Fewer than the minimum of 3."
    assert lines.nth(0).inner_text() == short
    assert lines.nth(1).inner_text() == "The video “Clip” (6.5 s) gives 3 snapshots at one every 2.5 s."
    page.fill("#id_image_display_seconds", "1")
    assert lines.nth(0).inner_text().startswith("An image shown 1 s gives 1 snapshot at one every 2.5 s.")
    page.fill("#id_min_frames_per_tester", "1")
    assert lines.nth(0).inner_text() == "An image shown 1 s gives 1 snapshot at one every 2.5 s."
    page.close()


PLAYS = """async (url) => {
  const video = document.createElement("video");
  video.muted = true;
  video.src = url;
  document.body.append(video);
  const outcome = await new Promise((resolve) => {
    video.onerror = () => resolve("error");
    video.onloadeddata = () => video.play().then(() => resolve("plays"), () => resolve("error"));
  });
  video.remove();
  return outcome;
}"""


@pytest.mark.browser
def test_videos_the_upload_accepts_play_in_chromium_and_a_refused_one_does_not(browser):
    page = browser.new_page()
    page.goto("about:blank")
    for name, content in [
        ("h264.mp4", video_bytes(size=(64, 64))),
        ("vp8.webm", video_bytes("libvpx", "webm", size=(64, 64))),
        ("vp9.webm", video_bytes("libvpx-vp9", "webm", size=(64, 64))),
        ("av1.webm", video_bytes("libsvtav1", "webm", size=(64, 64))),
        ("mpeg4.mp4", video_bytes("mpeg4", size=(64, 64))),
    ]:
        try:
            validate_variant_upload(SimpleUploadedFile(name, content))
            accepted = True
        except ValidationError:
            accepted = False
        kind = "mp4" if name.endswith(".mp4") else "webm"
        outcome = page.evaluate(PLAYS, f"data:video/{kind};base64,{base64.b64encode(content).decode()}")
        assert (name, accepted) == (name, outcome == "plays")
    page.close()
