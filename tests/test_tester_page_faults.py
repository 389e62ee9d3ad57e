"""What a tester sees when something goes wrong around the study pages: a server that answers 500
or stays away, a camera that is busy, an advertisement that will not load, and the way out
(withdrawal) on every page of the study. Real headless Chromium against the real ASGI app and
PostgreSQL; Playwright's routing stands in only for the failing HTTP answers."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.models import Campaign
from sessions.models import Frame
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree
from tests.support.browser import wait_until
from tests.support.camera import astronaut_y4m
from tests.support.study import make_study

FRAMES = "**/api/**/frames/**"
WITHDRAW = "Withdraw and delete my data"

# Keeps every stream the page opens, so a test can tell whether the camera (its light) is off.
RECORD_STREAMS = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__streams = [];
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await real(constraints);
    window.__streams.push(stream);
    return stream;
  };
})();
"""
CAMERA_OFF = (
    "() => window.__streams.length > 0"
    " && window.__streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))"
)

# The camera is there but another program holds it: Chrome's NotReadableError, as often as the number says.
BUSY_CAMERA = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let busy = %d;
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (busy-- > 0) throw new DOMException("Could not start video source", "NotReadableError");
    return real(constraints);
  };
})();
"""


def consent(page, base_url: str, token: str) -> None:
    page.goto(f"{base_url}/t/{token}/")
    page.get_by_role("button", name="I agree, start the study").click()
    page.wait_for_url("**/camera/")


def start_with_camera(page) -> None:
    start_button = page.get_by_role("button", name="Start the study")
    start_button.wait_for(timeout=30_000)
    start_button.click()
    page.wait_for_url("**/watch/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_withdraw_link_is_on_the_camera_and_watch_pages_and_withdraws(asgi_server, fake_camera_browser):
    study = make_study(display_seconds=30, invitations=1)
    page = fake_camera_browser(camera="deny").new_context().new_page()
    consent(page, asgi_server.url, study.tokens[0])
    assert page.get_by_role("link", name=WITHDRAW).is_visible()
    page.get_by_role("button", name="Continue without camera (questions only)").click()
    page.wait_for_url("**/watch/")

    page.get_by_role("link", name=WITHDRAW).click()

    assert page.get_by_role("heading", name="Withdraw from the study").is_visible()
    page.get_by_role("button", name=WITHDRAW).click()
    assert page.get_by_role("heading", name="You have withdrawn").is_visible()
    assert not StudyTester.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_500_for_every_snapshot_drops_them_and_the_tester_reaches_the_survey(
    asgi_server, fake_camera_browser, tmp_path
):
    study = make_study(display_seconds=3, capture_interval=0.5, invitations=1)
    page = fake_camera_browser(astronaut_y4m(tmp_path)).new_context().new_page()
    sent: list[str] = []

    def broken_server(route) -> None:
        sent.append(route.request.headers.get("x-snapshot-sequence", ""))
        route.fulfill(status=500, content_type="application/json", body='{"detail": "Server error."}')

    consent(page, asgi_server.url, study.tokens[0])
    start_with_camera(page)
    page.route(FRAMES, broken_server)

    page.wait_for_url("**/survey/", timeout=15_000)  # 3 s of poster, no endless "connection problem"

    assert len(sent) >= 3 and len(sent) == len(set(sent))  # every snapshot tried once, none retried
    assert Frame.objects.count() == 0
    assert page.get_by_role("heading", name="Your opinion").is_visible()
    page.get_by_role("link", name=WITHDRAW).click()
    assert page.get_by_role("heading", name="Withdraw from the study").is_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_long_503_outage_switches_the_camera_off_and_moves_on_after_a_bounded_wait(
    asgi_server, fake_camera_browser, tmp_path
):
    study = make_study(display_seconds=2, capture_interval=0.5, invitations=1)
    context = fake_camera_browser(astronaut_y4m(tmp_path)).new_context()
    context.add_init_script(RECORD_STREAMS)
    page = context.new_page()
    page.clock.install()  # time runs as usual until the test fast-forwards it

    def away(route) -> None:
        route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json", body="{}")

    consent(page, asgi_server.url, study.tokens[0])
    start_with_camera(page)
    page.route(FRAMES, away)

    # The poster's 2 s are over: the camera is off at once, while the page still waits for the queue.
    wait_until(page, CAMERA_OFF, 10_000)
    page.locator("#capture-status").get_by_text("Connection problem").wait_for(timeout=5_000)
    assert page.url.endswith("/watch/") and int(page.locator("#pending-count").inner_text()) > 0

    page.clock.fast_forward(60_000)  # past the flush deadline; the server is still away

    page.wait_for_url("**/survey/", timeout=10_000)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_busy_camera_says_so_offers_another_try_and_is_recorded_as_unavailable(
    asgi_server, fake_camera_browser, tmp_path
):
    study = make_study(invitations=2)
    browser = fake_camera_browser(astronaut_y4m(tmp_path))
    busy = "The camera is in use by another program or not working."

    # Busy once: the message, no lock-symbol advice, and "Try again" then finds the camera.
    context = browser.new_context()
    context.add_init_script(BUSY_CAMERA % 1)
    page = context.new_page()
    consent(page, asgi_server.url, study.tokens[0])
    page.get_by_text(busy).wait_for(timeout=10_000)
    assert not page.get_by_text("The camera is blocked for this page.").is_visible()
    assert not page.get_by_text("click the camera or lock symbol").is_visible()
    page.get_by_role("button", name="Try again").click()
    start_with_camera(page)

    # Busy for good: the tester goes on with the questions, recorded as "no camera", not "denied".
    context = browser.new_context()
    context.add_init_script(BUSY_CAMERA % 1000)
    page = context.new_page()
    consent(page, asgi_server.url, study.tokens[1])
    page.get_by_text(busy).wait_for(timeout=10_000)
    page.get_by_role("button", name="Continue without camera (questions only)").click()
    page.wait_for_url("**/watch/")

    cameras = sorted(StudyTester.objects.values_list("camera", flat=True))
    assert cameras == sorted([StudyTester.Camera.GRANTED, StudyTester.Camera.UNAVAILABLE])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_advertisement_that_does_not_load_says_so_and_the_tester_can_go_on(asgi_server, fake_camera_browser):
    study = make_study(display_seconds=2, invitations=1)
    page = fake_camera_browser(camera="deny").new_context().new_page()
    page.route("**/media/**", lambda route: route.fulfill(status=404, body="Not found"))
    consent(page, asgi_server.url, study.tokens[0])
    page.get_by_role("button", name="Continue without camera (questions only)").click()
    page.wait_for_url("**/watch/")

    page.get_by_text("This advertisement could not be loaded.").wait_for(timeout=10_000)
    page.wait_for_timeout(3000)  # longer than the poster's 2 s: the page does not move on unseen
    assert page.url.endswith("/watch/")
    page.get_by_role("button", name="Continue without this advertisement").click()

    page.wait_for_url("**/survey/")


@pytest.mark.django_db
def test_the_closed_page_of_a_closed_study_links_to_withdrawal(client: Client):
    study = make_study(invitations=1)
    token = study.tokens[0]
    assert agree(client, token).status_code == 302
    Campaign.objects.update(status=Campaign.Status.CLOSED)

    page = client.get(f"/t/{token}/camera/").content.decode()

    assert "This study is not open at the moment" in page
    assert f'href="/t/{token}/withdraw/"' in page and WITHDRAW in page


# The tab is hidden while the camera is still opening (getUserMedia held back until released).
HIDDEN_WHILE_OPENING = """
(() => {
  let hidden = true;
  Object.defineProperty(document, "hidden", { get: () => hidden });
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let release;
  const released = new Promise((resolve) => (release = resolve));
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (location.pathname.endsWith("/watch/")) await released;
    return real(constraints);
  };
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__releaseCamera = () => release();
})();
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_tab_hidden_while_the_camera_opens_raises_nothing_and_waits_until_visible(
    asgi_server, fake_camera_browser, tmp_path
):
    study = make_study(display_seconds=2, capture_interval=0.5, invitations=1)
    context = fake_camera_browser(astronaut_y4m(tmp_path)).new_context()
    context.add_init_script(HIDDEN_WHILE_OPENING)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    consent(page, asgi_server.url, study.tokens[0])
    page.evaluate("window.__setHidden(false)")
    start_with_camera(page)

    # Away and back and away again while the camera is still opening: no media element yet.
    for hidden in ("true", "false", "true"):
        page.evaluate(f"window.__setHidden({hidden})")
    page.evaluate("window.__releaseCamera()")
    page.locator("#stage img").wait_for(state="attached", timeout=10_000)
    page.wait_for_timeout(3000)  # longer than the poster's 2 s: its clock does not run while hidden
    assert page.url.endswith("/watch/") and page.locator("#captured-count").inner_text() == "0"
    page.evaluate("window.__setHidden(false)")

    page.wait_for_url("**/survey/", timeout=10_000)
    assert errors == []
