"""Moments on a generated video whose truth is known: faces turn happy at second 5 (where the
researcher puts a marker), half the testers look away in seconds 8 and 9, and only four testers
reach second 10."""

from __future__ import annotations

import csv
import io
import uuid

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from campaigns.models import Campaign, Organisation, Variant
from campaigns.tests.conftest import video_bytes
from conftest import child_environment
from dashboard.moments import campaign_moments
from inference.models import Prediction
from inference.tests.generated import CLASS_NAMES, model_answers, prediction_row, store_calibration, unloadable_model
from sessions.models import Frame
from sessions.models import Tester as StudyTester  # aliased: pytest collects names starting with "Test"
from tests.load.servers import uvicorn_server
from tests.support.browser import wait_until

from .conftest import make_user

TESTERS = 24
HAPPY, NEUTRAL = CLASS_NAMES.index("happy"), CLASS_NAMES.index("neutral")
LOOKING_AWAY_SECONDS = (8, 9)
CURSOR = "Number(document.querySelector('.moment-chart').dataset.cursor)"


@pytest.fixture
def spot(db, recompute_in_process, django_capture_on_commit_callbacks):
    return make_spot(django_capture_on_commit_callbacks)


@pytest.fixture
def served_spot(transactional_db, recompute_in_process, django_capture_on_commit_callbacks):
    """The same campaign committed, for a server in another process."""
    return make_spot(django_capture_on_commit_callbacks)


def make_spot(capture_on_commit) -> tuple[Campaign, Variant]:
    model = unloadable_model()
    random = np.random.default_rng(5)
    organisation = Organisation.objects.create(name="Moments Lab")
    campaign = Campaign.objects.create(
        organisation=organisation, name="Spring spot", model_version=model, min_frames_per_tester=1
    )
    video = Variant.objects.create(
        campaign=campaign,
        label="Spot",
        kind=Variant.Kind.VIDEO,
        file="v/spot.webm",
        content_type="video/webm",
        duration_ms=11_000,
    )
    testers = StudyTester.objects.bulk_create(
        StudyTester(campaign=campaign, token_hash=uuid.uuid4().hex, camera="granted", variant_order=[str(video.pk)])
        for _ in range(TESTERS)
    )
    rows = []  # (tester, second, label, head turn)
    for index, tester in enumerate(testers):
        for second in range(11 if index < 4 else 10):
            happy_chance = 0.85 if second >= 5 else 0.1
            label = HAPPY if random.random() < happy_chance else NEUTRAL
            turned = second in LOOKING_AWAY_SECONDS and index % 2 == 0
            rows.append((tester, second, label, 55.0 if turned else -6.0))
    frames = Frame.objects.bulk_create(
        Frame(
            campaign=campaign,
            tester=tester,
            variant=video,
            sequence=second,
            media_time_ms=second * 1000 + 400,
            outcome=Frame.Outcome.PREDICTION,
            head_turn_degrees=turn,
        )
        for tester, second, _label, turn in rows
    )
    raw = model_answers(np.array([label for _tester, _second, label, _turn in rows]), seed=9)
    Prediction.objects.bulk_create(
        prediction_row(model, frame, probabilities) for frame, probabilities in zip(frames, raw, strict=True)
    )
    with capture_on_commit(execute=True):
        store_calibration(model, seed=100)
    return campaign, video


def happy(second_row):
    return second_row["shares"]["happy"]


def test_the_happy_share_per_second_follows_the_video_with_intervals_over_testers(spot):
    campaign, video = spot

    moments = campaign_moments(campaign=campaign)

    [variant] = moments["variants"]
    assert variant["duration_ms"] == 11_000 and len(variant["seconds"]) == 11
    seconds = variant["seconds"]
    for second in range(5):
        assert seconds[second]["testers"] == TESTERS
        assert happy(seconds[second])["share"] < 0.3
    for second in range(5, 10):
        assert happy(seconds[second])["share"] > 0.6
        assert happy(seconds[second])["low"] < happy(seconds[second])["share"] < happy(seconds[second])["high"]
    # Four testers reach the last second: counted, but no figure.
    assert seconds[10]["testers"] == 4 and seconds[10]["shares"] is None


def test_attention_reports_looking_away_per_second_and_per_variant(spot):
    campaign, _video = spot

    [variant] = campaign_moments(campaign=campaign)["variants"]

    attention = [row["attention"]["share"] for row in variant["seconds"]]
    assert attention[:8] == [1.0] * 8
    assert attention[8] == attention[9] == 0.5
    assert attention[10] is None  # four testers only
    assert variant["attention"]["share"] == pytest.approx((10 * TESTERS + 4 - TESTERS) / (10 * TESTERS + 4))


def test_a_marker_compares_the_seconds_after_it_with_those_before(spot, client):
    campaign, video = spot
    owner = make_user("owner", campaign.organisation)
    client.force_login(owner)

    created = client.post(
        reverse("dashboard-api:markers", kwargs={"campaign_id": campaign.pk}),
        {"variant": str(video.pk), "at_ms": 5000, "kind": "brand", "label": "Logo"},
        content_type="application/json",
    )
    moments = client.get(reverse("dashboard-api:moments", kwargs={"campaign_id": campaign.pk})).json()

    assert created.status_code == 201
    [marker] = moments["markers"]
    assert marker["label"] == "Logo" and marker["at_ms"] == 5000 and marker["testers"] == TESTERS
    effect = next(row for row in marker["classes"] if row["class_name"] == "happy")
    assert effect["before"] < 0.3 < 0.6 < effect["after"]
    assert effect["low"] > 0.3 and effect["p_value"] < 0.01
    assert moments["variants"][0]["markers"][0]["id"] == marker["id"]

    deleted = client.delete(
        reverse("dashboard-api:marker", kwargs={"campaign_id": campaign.pk, "marker_id": marker["id"]})
    )
    assert deleted.status_code == 204 and campaign_moments(campaign=campaign)["markers"] == []


def test_markers_are_refused_outside_the_video_and_on_other_organisations(spot, client):
    campaign, video = spot
    url = reverse("dashboard-api:markers", kwargs={"campaign_id": campaign.pk})
    client.force_login(make_user("owner", campaign.organisation))

    late = client.post(
        url, {"variant": str(video.pk), "at_ms": 12_000, "kind": "offer"}, content_type="application/json"
    )
    client.force_login(make_user("outsider", Organisation.objects.create(name="Other Lab")))
    foreign = client.post(
        url, {"variant": str(video.pk), "at_ms": 1000, "kind": "offer"}, content_type="application/json"
    )
    foreign_moments = client.get(reverse("dashboard-api:moments", kwargs={"campaign_id": campaign.pk}))

    assert late.status_code == 400 and late.json()["message"] == "The marker must lie within the video."
    assert foreign.status_code == 404 and foreign_moments.status_code == 404
    assert not video.markers.exists()


@pytest.mark.browser
def test_the_curves_follow_the_playing_video_a_click_seeks_and_a_marker_joins_the_table(
    served_spot, fake_camera_browser, tmp_path
):
    campaign, video = served_spot
    media = tmp_path / "media"
    (media / "v").mkdir(parents=True)
    (media / "v" / "spot.webm").write_bytes(video_bytes("libvpx", "webm", seconds=11, fps=5))
    owner = make_user("owner", campaign.organisation)
    client = Client()
    client.force_login(owner)
    browser = fake_camera_browser(None)
    with uvicorn_server(child_environment(MEDIA_ROOT=str(media)), tmp_path / "uvicorn.log") as url:
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(f"{url}/campaigns/{campaign.pk}/dashboard/")
        chart = page.locator(".moment-chart")
        chart.locator(".main-svg").first.wait_for(timeout=15000)
        player = page.locator(".moment-variant video")
        expect(page.locator(".moment-attention")).to_contain_text("Looking at the screen, whole variant")

        player.evaluate("video => video.play()")
        wait_until(page, f"{CURSOR} > 1", 10000)
        player.evaluate("video => video.pause()")
        box = chart.locator(".nsewdrag").first.bounding_box()
        chart.locator(".nsewdrag").first.click(position={"x": box["width"] * 0.85, "y": box["height"] / 2})
        wait_until(page, "document.querySelector('.moment-variant video').currentTime > 7", 10000)
        assert float(chart.get_attribute("data-cursor")) > 7

        player.evaluate("video => { video.currentTime = 5; }")
        wait_until(page, f"Math.abs({CURSOR} - 5) < 0.3", 10000)
        page.locator(".marker-form input[name=label]").fill("Logo")
        page.locator(".marker-form button[type=submit]").click()
        expect(page.locator("#table-markers tbody tr")).to_contain_text("Logo")
        context.close()
    assert errors == []
    assert video.markers.get().at_ms == pytest.approx(5000, abs=300)


def test_the_frames_export_keeps_each_snapshots_head_turn_and_whether_it_counts_as_looking(spot, client):
    campaign, _video = spot
    client.force_login(make_user("owner", campaign.organisation))

    response = client.get(reverse("dashboard-api:export", kwargs={"campaign_id": campaign.pk, "kind": "frames"}))

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 10 * TESTERS + 4
    turned = [row for row in rows if row["head_turn_degrees"] == "55.0"]
    assert len(turned) == 2 * TESTERS // 2 and {row["looking_at_screen"] for row in turned} == {"0"}
    assert {row["looking_at_screen"] for row in rows if row["head_turn_degrees"] == "-6.0"} == {"1"}


def test_an_audience_gets_no_figure_where_the_testers_outside_it_are_too_few(spot):
    campaign, _video = spot
    testers = list(campaign.testers.order_by("pk").values_list("pk", flat=True))

    nearly_all = campaign_moments(campaign=campaign, testers=frozenset(testers[:-4]))["variants"][0]
    enough_left = campaign_moments(campaign=campaign, testers=frozenset(testers[:-5]))["variants"][0]

    # Everyone's figure less the audience's would be four testers' own.
    assert [second["shares"] for second in nearly_all["seconds"][:10]] == [None] * 10
    assert nearly_all["attention"]["share"] is None
    assert all(second["shares"] for second in enough_left["seconds"][:10])
    assert enough_left["attention"]["share"] is not None
