"""The tester's whole journey in a real headless Chromium whose fake camera shows a smiling face,
against the real ASGI app, PostgreSQL, Redis and a real Celery worker."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
from django.core.files.base import ContentFile
from django.db.models import Count

from campaigns.capture import snapshots_per_showing
from campaigns.models import Campaign, Invitation, Variant
from campaigns.tokens import hash_token
from inference.models import Prediction
from sessions.models import BaselineSnapshot, Frame, SurveyAnswer
from sessions.models import Tester as StudyTester
from tests.support.browser import page_width, wait_until
from tests.support.camera import astronaut_y4m
from tests.support.study import Study, make_study, poster_png
from tests.support.video import webm_clip


@dataclass
class Journey:
    token: str
    order: list[str] = field(default_factory=list)
    # (variant id, sequence) of every snapshot the page took, from the page's own numbering.
    snapshots: set[tuple[str, int]] = field(default_factory=set)
    upload_requests: int = 0
    page: object = None

    def count_upload(self, request) -> None:
        if request.method == "POST" and request.url.endswith("/frames/"):
            self.upload_requests += 1


def take_part(
    browser,
    base_url: str,
    study: Study,
    token: str,
    ratings: list[int],
    *,
    camera: bool = True,
    during_first_view=None,
    posed: bool = False,
    skip_baseline: bool = False,
) -> Journey:
    journey = Journey(token)
    page = browser.new_context().new_page()
    journey.page = page
    page.on("request", journey.count_upload)
    page.goto(f"{base_url}/t/{token}/")
    assert page.get_by_text("No video is recorded or stored.").is_visible()
    assert page.get_by_text("You are also asked for a brief smile and a neutral face").is_visible() == posed
    page.get_by_role("button", name="I agree, start the study").click()
    page.wait_for_url("**/camera/")
    if camera:
        # Once the face is clearly visible: a few seconds of the tester's resting face, counted down.
        page.get_by_text("Look at the screen with a relaxed face.").wait_for(timeout=30_000)
        assert re.fullmatch(r"[1-3]", page.locator("#baseline-countdown").inner_text())
        start_button = page.get_by_role("button", name="Start the study")
        assert not start_button.is_visible()
        if skip_baseline:
            page.get_by_role("button", name="Skip this step").click()
        if posed:
            page.get_by_text("Now please smile broadly.").wait_for(timeout=10_000)
            page.get_by_text("Now please make a neutral face").wait_for(timeout=10_000)
        start_button.wait_for(timeout=30_000)
        # The button appeared because the server judged the face usable, not because the check failed.
        assert page.locator("#camera-status").get_attribute("data-verdict") == "ok"
        assert page.get_by_text("Your face is clearly visible.").is_visible()
        start_button.click()
    else:
        page.get_by_text("The camera is blocked for this page.").wait_for(timeout=15_000)
        page.get_by_role("button", name="Continue without camera (questions only)").click()
    scale, text = study.questions
    for number, rating in enumerate(ratings):
        page.wait_for_url("**/watch/")
        journey.order.append(page.locator("#viewer").get_attribute("data-variant"))
        assert page.get_by_text(f"Advertisement {number + 1} of {len(ratings)}").is_visible()
        assert not page.locator("#play").is_visible()  # an image has nothing to start
        if number == 0 and during_first_view is not None:
            during_first_view(page)
        page.wait_for_url("**/survey/", timeout=60_000)
        page.check(f"input[name=question_{scale.pk}][value='{rating}']")
        page.fill(f"textarea[name=question_{text.pk}]", f"poster {number}")
        page.locator("form.survey button[type=submit]").click()
    page.wait_for_url("**/done/")
    assert page.get_by_role("heading", name="Thank you!").is_visible()
    for variant_id in journey.order:
        taken = page.evaluate("(key) => sessionStorage.getItem(key)", f"mimik-next-sequence:{variant_id}")
        journey.snapshots |= {(variant_id, sequence) for sequence in range(int(taken or 0))}
    return journey


def wait_until_analysed(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = Frame.Outcome.PENDING
    while Frame.objects.filter(outcome=pending).exists() or BaselineSnapshot.objects.filter(outcome=pending).exists():
        assert time.monotonic() < deadline, "frames still pending after the worker had a minute"
        time.sleep(0.5)


def stored_snapshots(token: str) -> list[tuple[str, int]]:
    frames = Frame.objects.filter(tester__token_hash=hash_token(token))
    return [(str(variant_id), sequence) for variant_id, sequence in frames.values_list("variant_id", "sequence")]


def media_times(token: str, variant_id: str) -> list[int]:
    frames = Frame.objects.filter(tester__token_hash=hash_token(token), variant_id=variant_id)
    return sorted(frames.values_list("media_time_ms", flat=True))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_two_testers_see_opposite_orders_smile_is_happy_and_withdrawal_deletes(
    asgi_server, celery_worker, fake_camera_browser, tmp_path
):
    study = make_study(display_seconds=3, capture_interval=1)
    browser = fake_camera_browser(astronaut_y4m(tmp_path))

    first = take_part(browser, asgi_server.url, study, study.tokens[0], [6, 2])
    # The researcher asks for posed expressions from now on: the next consent page says so.
    Campaign.objects.filter(pk=study.campaign.pk).update(posed_expressions=True)
    second = take_part(browser, asgi_server.url, study, study.tokens[1], [3, 5], posed=True)

    ids = [str(variant.pk) for variant in study.variants]
    assert first.order == ids and second.order == ids[::-1]
    for journey in (first, second):
        stored = stored_snapshots(journey.token)
        assert sorted(stored) == sorted(journey.snapshots)  # every snapshot once, none invented
        for variant_id in ids:
            # 3 s of poster at one snapshot a second: as it appears, at 1 s and at 2 s.
            times = media_times(journey.token, variant_id)
            assert len(times) == snapshots_per_showing(3, 1) == 3
            assert [time_ms // 1000 for time_ms in times] == [0, 1, 2], times
    wait_until_analysed()
    frames = Frame.objects.annotate(predictions_count=Count("predictions"))
    assert all(frame.outcome != Frame.Outcome.PENDING for frame in frames)
    assert all(frame.predictions_count == (frame.outcome == Frame.Outcome.PREDICTION) for frame in frames)
    predictions = Prediction.objects.all()
    assert predictions.count() >= 0.8 * frames.count()
    assert {prediction.top_class for prediction in predictions} == {"happy"}
    # Each tester's own face before the first advertisement: not frames of any variant, each with
    # one outcome, and the posed ones only from the tester whose consent page asked for them.
    baseline = {
        token: sorted(
            BaselineSnapshot.objects.filter(tester__token_hash=hash_token(token)).values_list("kind", "sequence")
        )
        for token in (first.token, second.token)
    }
    assert baseline[first.token] == [("resting", 0), ("resting", 1), ("resting", 2)]
    assert baseline[second.token] == [
        ("posed_neutral", 0),
        ("posed_neutral", 1),
        ("posed_smile", 0),
        ("posed_smile", 1),
        ("resting", 0),
        ("resting", 1),
        ("resting", 2),
    ]
    analysed = BaselineSnapshot.objects.filter(outcome=BaselineSnapshot.Outcome.PREDICTION)
    assert analysed.count() >= 8 and {snapshot.top_class for snapshot in analysed} == {"happy"}
    assert all(snapshot.calibrated_probabilities for snapshot in analysed)
    answers = {
        (str(answer.variant_id), answer.tester.token_hash, answer.rating, answer.comment)
        for answer in SurveyAnswer.objects.select_related("tester")
    }
    first_hash, second_hash = hash_token(first.token), hash_token(second.token)
    assert {(v, h, r) for v, h, r, _ in answers if r is not None} == {
        (ids[0], first_hash, 6),
        (ids[1], first_hash, 2),
        (ids[1], second_hash, 3),
        (ids[0], second_hash, 5),
    }
    assert (ids[1], second_hash, None, "poster 0") in answers

    page = second.page
    page.get_by_role("link", name="Withdraw from the study").click()
    page.get_by_role("button", name="Withdraw and delete my data").click()

    assert page.get_by_role("heading", name="You have withdrawn").is_visible()
    second_tester = StudyTester.objects.filter(token_hash=second_hash)
    assert not second_tester.exists()
    assert not Frame.objects.filter(tester__token_hash=second_hash).exists()
    assert not BaselineSnapshot.objects.filter(tester__token_hash=second_hash).exists()
    assert BaselineSnapshot.objects.filter(tester__token_hash=first_hash).count() == 3
    assert Frame.objects.filter(tester__token_hash=first_hash).count() == len(first.snapshots)
    assert Prediction.objects.exclude(tester__token_hash=first_hash).count() == 0
    assert SurveyAnswer.objects.exclude(tester__token_hash=first_hash).count() == 0
    assert Invitation.objects.get(token_hash=second_hash).withdrawn_at is not None
    page.goto(f"{asgi_server.url}/t/{second.token}/")
    assert page.get_by_text("You have withdrawn from this study.").is_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_camera_denied_tester_continues_with_the_survey_only(asgi_server, fake_camera_browser):
    study = make_study(display_seconds=2, invitations=1)
    browser = fake_camera_browser(camera="deny")

    journey = take_part(browser, asgi_server.url, study, study.tokens[0], [4, 7], camera=False)

    tester = StudyTester.objects.get()
    assert tester.camera == StudyTester.Camera.DENIED and tester.completed_at is not None
    assert journey.snapshots == set() and journey.upload_requests == 0 and Frame.objects.count() == 0
    assert sorted(SurveyAnswer.objects.exclude(rating=None).values_list("rating", flat=True)) == [4, 7]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_snapshots_taken_while_offline_are_sent_later_and_stored_once(asgi_server, fake_camera_browser, tmp_path):
    study = make_study(display_seconds=4, capture_interval=0.5, invitations=1)
    browser = fake_camera_browser(astronaut_y4m(tmp_path))
    aborted = []

    def go_offline_for_a_while(page) -> None:
        def refuse(route) -> None:
            aborted.append(route.request.url)
            route.abort()

        page.route("**/api/**/frames/**", refuse)
        page.locator("#capture-status").get_by_text("Connection problem").wait_for(timeout=10_000)
        page.wait_for_timeout(2000)  # keeps Playwright dispatching route events, unlike time.sleep
        page.unroute("**/api/**/frames/**")

    journey = take_part(
        browser,
        asgi_server.url,
        study,
        study.tokens[0],
        [1, 2],
        during_first_view=go_offline_for_a_while,
        skip_baseline=True,
    )

    assert len(aborted) >= 2 and journey.upload_requests > len(journey.snapshots)  # some were retried
    stored = stored_snapshots(journey.token)
    assert len(stored) == len(set(stored)) == len(journey.snapshots) >= 12
    assert set(stored) == journey.snapshots
    assert BaselineSnapshot.objects.count() < 3  # skipped before the page took all three


# Autoplay refused once, as browsers do for a video with sound before the visitor clicked anything.
FIRST_PLAY_REFUSED = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  let refused = false;
  HTMLMediaElement.prototype.play = function () {
    if (!refused && this.tagName === "VIDEO" && !this.muted) {
      refused = true;
      return Promise.reject(new DOMException("The user has not interacted yet.", "NotAllowedError"));
    }
    return play.call(this);
  };
})();
"""
PHONE = {"width": 390, "height": 844}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_german_tester_on_a_phone_starts_a_video_and_is_photographed_from_its_first_frame(
    asgi_server, fake_camera_browser, tmp_path
):
    study = make_study(variants=1, invitations=1, capture_interval=2, language=Campaign.Language.GERMAN)
    video = study.variants[0]
    video.kind, video.content_type, video.duration_ms = Variant.Kind.VIDEO, "video/webm", 4000
    video.file.save("clip.webm", ContentFile(webm_clip(tmp_path / "clip.webm", seconds=4).read_bytes()), save=False)
    video.poster.save("still.png", ContentFile(poster_png((20, 20, 20))), save=False)
    video.save()
    token = study.tokens[0]
    context = fake_camera_browser(astronaut_y4m(tmp_path)).new_context(viewport=PHONE)
    context.add_init_script(FIRST_PLAY_REFUSED)
    page = context.new_page()
    page.goto(f"{asgi_server.url}/t/{token}/")
    assert page_width(page) <= PHONE["width"]
    page.locator("button[value=agree]").click()
    start = page.locator("#camera-ok button")
    start.wait_for(timeout=30_000)
    with page.expect_response(lambda response: "/poster/" in response.url) as poster:
        start.click()
    page.wait_for_url("**/watch/")

    # Autoplay was refused: one Play button, over the video's still, nothing pushed off the screen.
    play, player = page.locator("#play"), page.locator("#stage video")
    play.wait_for(state="visible", timeout=10_000)
    assert poster.value.status == 200 and player.get_attribute("poster") == f"/t/{token}/poster/{video.pk}/"
    assert play.inner_text() == "Abspielen" and play.evaluate("button => button.scrollWidth <= button.clientWidth")
    assert page_width(page) <= PHONE["width"]
    video_box, button_box = player.bounding_box(), play.bounding_box()
    video_left, video_right = video_box["x"], video_box["x"] + video_box["width"]
    assert video_left >= 0 and video_right <= PHONE["width"]
    assert video_left < button_box["x"] and button_box["x"] + button_box["width"] < video_right
    assert page.locator("#captured-count").inner_text() == "0"  # nothing is taken before it plays
    play.click()
    assert not play.is_visible()

    # The first snapshot is taken as it starts; then the video stops for longer than an interval (a
    # stall, a pause): no snapshot of the frozen picture, and the next one is 2 s into the video.
    wait_until(page, "document.getElementById('captured-count').textContent === '1'", 5_000)
    player.evaluate("video => video.pause()")
    page.wait_for_timeout(2_500)
    assert page.locator("#captured-count").inner_text() == "1"
    player.evaluate("video => video.play()")

    page.wait_for_url("**/survey/", timeout=30_000)
    assert page_width(page) <= PHONE["width"]
    page.check(f"input[name=question_{study.questions[0].pk}][value='4']")
    page.locator("form.survey button[type=submit]").click()
    page.wait_for_url("**/done/")
    times = media_times(token, str(video.pk))
    assert len(times) == snapshots_per_showing(4, 2) == 2
    assert [time_ms // 2000 for time_ms in times] == [0, 1], times
