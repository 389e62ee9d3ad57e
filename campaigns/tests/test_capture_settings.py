"""Snapshots per advertisement: the campaign form shows how many each image and video gives and
refuses settings, and video uploads, that cannot reach the campaign's minimum."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import question_add
from campaigns.tests.conftest import image_bytes, make_campaign, stored_files, video_bytes

NEW_CAMPAIGN = {
    "name": "Frühling",
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


def text(response) -> str:
    return html.unescape(response.content.decode())


def words(response) -> str:
    """The page's text without markup, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def edit_data(client, campaign) -> dict:
    form = client.get(reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk})).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data["keep_frames"] = ""
    return data


def add_video(client, campaign, label: str, seconds: float):
    url = reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})
    return client.post(url, {"label": label, "file": SimpleUploadedFile("clip.mp4", video_bytes(seconds=seconds))})


@pytest.mark.django_db
def test_the_new_campaign_form_shows_the_snapshots_per_image_and_refuses_too_few(client, personas):
    client.force_login(personas.owner)
    url = reverse("campaigns:create")
    form = text(client.get(url))
    assert "An image shown 10 s gives 5 snapshots at one every 2 s." in form
    assert "minimum analysed snapshots per advertisement" in form.lower()
    # The templates the page's script fills in as the researcher types.
    assert 'data-other="An image shown %(seconds)s s gives %(count)s snapshots at one every %(interval)s s."' in form

    response = client.post(url, {**NEW_CAMPAIGN, "image_display_seconds": "4"})
    page = text(response)
    assert response.status_code == 200
    assert (
        "At one snapshot every 2 s, an image shown 4 s gives 2 snapshots, fewer than the minimum of 3. "
        "Show images longer, take snapshots more often or lower the minimum." in page
    )
    # The preview shows what was typed, and that it falls short.
    assert "An image shown 4 s gives 2 snapshots at one every 2 s. Fewer than the minimum of 3." in words(response)
    response = client.post(url, {**NEW_CAMPAIGN, "capture_interval_seconds": "4", "image_display_seconds": "3"})
    assert "an image shown 3 s gives 1 snapshot, fewer than the minimum of 3." in text(response)
    assert not Campaign.objects.exists()

    assert client.post(url, {**NEW_CAMPAIGN, "image_display_seconds": "5"}).status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.image_display_seconds, campaign.min_frames_per_tester) == (5, 3)
    assert "Capture interval 2 s Image display time 5 s Minimum analysed snapshots per advertisement 3" in words(
        client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk}))
    )


@pytest.mark.django_db
def test_an_edit_that_leaves_a_video_short_of_the_minimum_is_refused(client, personas):
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    assert add_video(client, campaign, "Trailer", 6.5).status_code == 302
    edit = reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk})
    data = edit_data(client, campaign)
    assert "The video “Trailer” (6.5 s) gives 4 snapshots at one every 2 s." in text(client.get(edit))

    response = client.post(edit, {**data, "min_frames_per_tester": "5"})
    assert response.status_code == 200
    assert (
        "At one snapshot every 2 s, the video “Trailer” (6.5 s) gives 4 snapshots, fewer than the minimum of 5. "
        "Take snapshots more often, lower the minimum or replace the video." in text(response)
    )
    campaign.refresh_from_db()
    assert campaign.min_frames_per_tester == 3

    response = client.post(edit, {**data, "min_frames_per_tester": "5", "capture_interval_seconds": "1.5"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.min_frames_per_tester, campaign.capture_interval_seconds) == (5, 1.5)


@pytest.mark.django_db
def test_a_video_too_short_for_the_minimum_is_refused_at_upload(client, personas, media_root):
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    response = add_video(client, campaign, "Teaser", 3)
    assert response.status_code == 200
    assert (
        "This video lasts 3 s: at one snapshot every 2 s it gives 2 snapshots, fewer than this campaign's minimum "
        "of 3. Upload a longer video, or take snapshots more often or lower the minimum in the campaign's "
        "settings." in text(response)
    )
    assert not campaign.variants.exists()
    assert stored_files(media_root) == []

    assert add_video(client, campaign, "Spot", 4.5).status_code == 302  # 0, 2 and 4 s: three snapshots
    variant = campaign.variants.get()
    replace = reverse("campaigns:variant_edit", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})
    response = client.post(replace, {"label": "Spot", "file": SimpleUploadedFile("short.mp4", video_bytes(seconds=2))})
    assert "This video lasts 2 s: at one snapshot every 2 s it gives 1 snapshot, fewer than" in text(response)
    variant.refresh_from_db()
    assert variant.duration_ms == 4_500


@pytest.mark.django_db
def test_the_campaign_page_states_the_snapshots_each_variant_gives(client, personas):
    campaign = make_campaign(personas, language="en", image_display_seconds=9)
    client.force_login(personas.owner)
    url = reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})
    client.post(url, {"label": "Poster", "file": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    add_video(client, campaign, "Clip", 7)
    detail = words(client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})))
    assert "Poster 64×48 5 snapshots per tester" in detail
    assert "Clip 64×48 7 s 4 snapshots per tester" in detail


@pytest.mark.django_db
def test_a_campaign_whose_settings_give_too_few_snapshots_cannot_start(client, personas):
    """Settings written without the form (an import, the shell) are checked before the start too."""
    campaign = make_campaign(personas, language="en", image_display_seconds=3)
    client.force_login(personas.owner)
    url = reverse("campaigns:variant_add", kwargs={"campaign_id": campaign.pk})
    for label in ("A", "B"):
        client.post(url, {"label": label, "file": SimpleUploadedFile(f"{label}.png", image_bytes("PNG"))})
    question_add(campaign=campaign, kind="scale", text="Like it?")
    detail = reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})
    page = words(client.get(detail))
    assert "an image shown 3 s gives 2 snapshots, fewer than the minimum of 3." in page
    assert "A 64×48 2 snapshots per tester — fewer than the minimum of 3" in page
    client.post(reverse("campaigns:start", kwargs={"campaign_id": campaign.pk}))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
