"""The served app end to end: the websocket through the real Redis channel layer, and the page in
Chromium updating itself when a prediction arrives."""

from __future__ import annotations

import json
import re
import threading

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone, translation
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from campaigns.live import publish_campaign_event, publish_progress_event
from campaigns.models import Campaign, Variant
from dashboard.selectors import dashboard_data
from inference.tests.generated import generated_campaign, store_calibration, unloadable_model
from sessions.models import Tester

from .conftest import active_model, add_frame, panel_campaign
from .test_verdicts import CLEAR, EVEN


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def open_socket(server, campaign, cookie: str | None):
    ws_url = server.url.replace("http://", "ws://") + f"/ws/campaigns/{campaign.pk}/"
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return connect(ws_url, origin=server.url, additional_headers=headers, open_timeout=10)


def close_code(socket) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    return closed.value.rcvd.code


def test_socket_relays_events_to_members_and_refuses_everyone_else(asgi_server, fixed, owner, outsider):
    with open_socket(asgi_server, fixed.campaign, None) as anonymous:
        assert close_code(anonymous) == 4403
    with open_socket(asgi_server, fixed.campaign, session_cookie(outsider)) as stranger:
        assert close_code(stranger) == 4404

    with open_socket(asgi_server, fixed.campaign, session_cookie(owner)) as member:
        event = {"kind": "frame", "variant_id": str(fixed.a.pk), "outcome": "prediction", "top_class": "happy"}
        # The consumer joins its group before it accepts, so this event cannot arrive too early.
        publish_campaign_event(campaign_id=fixed.campaign.pk, event=event)
        assert json.loads(member.recv(timeout=10)) == event


def test_a_tester_moving_on_reaches_the_dashboard_once_committed(asgi_server, fixed, owner):
    with open_socket(asgi_server, fixed.campaign, session_cookie(owner)) as member:
        with pytest.raises(RuntimeError), transaction.atomic():
            publish_progress_event(fixed.campaign.pk)
            raise RuntimeError("the service failed: its transaction rolls back")
        with transaction.atomic():
            publish_progress_event(fixed.campaign.pk)
            Tester.objects.filter(pk=fixed.testers["t7"].pk).update(completed_at=timezone.now())

        assert json.loads(member.recv(timeout=10)) == {"kind": "progress"}
        # Nothing from the rolled-back transaction, before or after.
        with pytest.raises(TimeoutError):
            member.recv(timeout=1)


def publish_in_thread(function, **kwargs) -> None:
    """Playwright runs an event loop in this thread, where async_to_sync refuses to work."""
    publisher = threading.Thread(target=function, kwargs=kwargs)
    publisher.start()
    publisher.join()


@pytest.mark.browser
def test_dashboard_renders_charts_and_updates_when_a_prediction_arrives(
    asgi_server, browser, fixed, owner, organisation
):
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": session_cookie(owner), "url": asgi_server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    failed: list[str] = []
    # The browser asks for /favicon.ico on its own; nothing of ours may fail.
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)

    page.goto(f"{asgi_server.url}/campaigns/{fixed.campaign.pk}/dashboard/")
    for chart in ("chart-funnel", "chart-ratios", "chart-differences", "chart-order", "chart-survey-0"):
        page.wait_for_selector(f"#{chart} .main-svg", timeout=15000)
    happy_a = page.locator(f'[data-testid="count-{fixed.a.pk}-happy"]')
    assert happy_a.inner_text() == "2"
    assert page.locator(f'[data-testid="frames-{fixed.a.pk}"]').first.inner_text() == "26"
    assert "B leads on happy by 55 points" in page.locator('[data-testid="verdict-happy"]').inner_text()
    model_link = page.locator("#model-name a")
    assert model_link.inner_text() == f"{fixed.model.name} {fixed.model.version}"
    assert model_link.get_attribute("href") == f"/campaigns/models/{fixed.model.pk}/card/"
    expect(page.locator("#dashboard")).to_have_attribute("data-live", "on", timeout=10000)

    # Say versus face and the norms, from the same data.
    expect(page.locator(f'[data-testid="say-face-{fixed.b.pk}"]')).to_contain_text(
        "On B, testers who rated it higher also smiled more: Spearman ρ 0.99"
    )
    expect(page.locator('[data-testid="say-face-disagreement"]').first).to_contain_text("rated B +3 against A")
    expect(page.locator('[data-testid="norms-sentences"]')).to_have_text(
        "The benchmark starts at 5 finished variants of your organisation: 5 more finished variants needed."
    )

    counting = page.locator('[data-testid="tester-counting"]')
    assert counting.inner_text().startswith("6 testers are counted. 2 testers are not counted yet")
    assert page.locator('[data-testid="not-counted-watching"]').inner_text() == (
        "2 testers have not finished watching the advertisements yet."
    )

    frame = add_frame(fixed.testers["t1"], fixed.a, 50, "happy", 0.95)
    event = {"kind": "frame", "variant_id": str(fixed.a.pk), "outcome": frame.outcome, "top_class": "happy"}
    publish_in_thread(publish_campaign_event, campaign_id=fixed.campaign.pk, event=event)

    expect(happy_a).to_have_text("3", timeout=15000)
    assert page.locator(f'[data-testid="frames-{fixed.a.pk}"]').first.inner_text() == "27"

    # A tester finishes: "Completed" and the reasons follow without a reload.
    completed = page.locator('[data-testid="progress-completed"]')
    assert completed.inner_text() == "7"
    Tester.objects.filter(pk=fixed.testers["t7"].pk).update(completed_at=timezone.now())
    publish_in_thread(publish_progress_event, campaign_id=fixed.campaign.pk)
    expect(completed).to_have_text("8", timeout=15000)
    expect(page.locator('[data-testid="not-counted-rejected"]')).to_contain_text("For 1 tester, the face was not found")

    # A campaign with resting faces, posed smiles and finished campaigns to compare with: every new panel filled.
    built = panel_campaign(organisation)
    a = built.variants[0]
    page.goto(f"{asgi_server.url}/campaigns/{built.campaign.pk}/dashboard/")
    expect(page.locator(f'[data-testid="baseline-{a.pk}-happy"]')).to_have_text("10.0", timeout=15000)
    assert page.locator("#table-baseline tbody tr").count() == 2 * 7  # two variants, every emotion
    assert page.locator('[data-testid="baseline-posed"]').inner_text() == "Posed smiles read as happy: 50 %, 1 tester."
    assert page.locator('[data-testid="baseline-sentence"]').inner_text().startswith("4 of 8 counted testers have")
    assert "does not change with it" in page.locator("#baseline").inner_text()
    assert page.locator(f'[data-testid="say-face-rho-{a.pk}"]').inner_text() == "0.99"
    assert page.locator(f'[data-testid="norms-{a.pk}-happy_share"]').inner_text() == "67"
    assert page.locator('[data-testid="norms-sentences"]').first.inner_text() == (
        "A has a happy share of 45 %: percentile rank 67 among your organisation's 6 finished variants (median 35 %)."
    )
    assert failed == []
    assert [error for error in errors if not error.startswith("Failed to load resource")] == []


def verdict_campaigns(organisation) -> dict[str, Campaign]:
    """Two running campaigns of the owner's organisation on one calibrated generated model: B clearly
    happier than A, and no true difference."""
    model = unloadable_model()
    made = {
        "clear": generated_campaign(model, variant_shares=CLEAR, testers=30, frames_per_tester=40, seed=3),
        "even": generated_campaign(model, variant_shares=EVEN, testers=30, frames_per_tester=40, seed=4),
    }
    store_calibration(model, seed=100)  # committed at once here: the recompute runs in this process
    ids = [generated.campaign.pk for generated in made.values()]
    Campaign.objects.filter(pk__in=ids).update(organisation=organisation, status=Campaign.Status.RUNNING)
    return {name: Campaign.objects.get(pk=generated.campaign.pk) for name, generated in made.items()}


def server_sentence(campaign: Campaign, class_name: str, language: str) -> str:
    with translation.override(language):
        rows = dashboard_data(campaign=campaign)["decision"]["emotions"]
    return next(row["sentence"] for row in rows if row["class_name"] == class_name)


@pytest.mark.browser
def test_a_new_campaign_on_the_german_page_draws_empty_charts_plainly_and_the_verdict_leads_every_page(
    asgi_server,
    browser,
    owner,
    organisation,
    recompute_in_process,
):
    """No tester yet, long variant names, the page switched to German in a browser set to American English.
    Then the verdict sentences at the top of the page, in German and English, for a campaign with a known
    difference and one without."""
    active_model()
    campaign = Campaign.objects.create(organisation=organisation, name="Herbst", created_by=owner)
    names = ["Sommerkampagne mit einem besonders langen Namen", "Frühjahrskampagne mit einem ebenso langen Namen"]
    for position, label in enumerate(names):
        Variant.objects.create(
            campaign=campaign, label=label, kind="image", file=f"v/{position}.png", content_type="image/png",
            position=position,
        )  # fmt: skip
    context = browser.new_context(locale="en-US")
    context.add_cookies(
        [
            {"name": "sessionid", "value": session_cookie(owner), "url": asgi_server.url},
            {"name": "django_language", "value": "de", "url": asgi_server.url},  # the page's language switch
        ]
    )
    page = context.new_page()

    page.goto(f"{asgi_server.url}/campaigns/{campaign.pk}/dashboard/")
    expect(page.locator("#dashboard")).to_have_attribute("data-loaded", re.compile(r"\d"), timeout=15000)

    assert re.fullmatch(r"Aktualisiert \d\d:\d\d:\d\d", page.locator("#updated-at").inner_text())
    # Plotly redraws once more after measuring the labels' margins: wait for the settled charts.
    ratios = page.locator("#chart-ratios")
    expect(ratios.locator(".annotation-text")).to_have_text("Noch nicht genügend Daten.")
    expect(ratios.locator(".ytick text").last).to_have_text("100%")
    differences = page.locator("#chart-differences")
    labels = differences.locator(".ytick text")
    expect(labels).to_have_count(2)
    chart = differences.locator(".main-svg").first.bounding_box()
    for index in range(2):
        box = labels.nth(index).bounding_box()
        assert chart["x"] <= box["x"] and box["x"] + box["width"] <= chart["x"] + chart["width"], box
    lines = differences.locator(".ytick text tspan.line").all_text_contents()
    assert set(" ".join(names).split()) <= set(" ".join(lines).split())
    # The verdict comes first, and says plainly that nothing can be said yet.
    assert page.evaluate("document.querySelector('#dashboard > section').id") == "decision"
    expect(page.locator('[data-testid="decision-happy"]')).to_have_text(
        "Zu früh für ein Urteil bei Freude: Noch wird keine Testperson gezählt; mindestens 10 sind nötig, "
        f"um {names[0]} und {names[1]} zu vergleichen."
    )

    campaigns = verdict_campaigns(organisation)
    for language, leads, undecided in (
        ("de", "B liegt bei Freude um ", ("Zu früh für ein Urteil bei Freude", "Noch nicht entschieden bei Freude")),
        ("en", "B leads on happy by ", ("Too early to say on happy", "Not decided yet on happy")),
    ):
        context.add_cookies([{"name": "django_language", "value": language, "url": asgi_server.url}])
        for name, campaign in campaigns.items():
            page.goto(f"{asgi_server.url}/campaigns/{campaign.pk}/dashboard/")
            verdicts = page.locator("#decision-verdicts li")
            expect(verdicts).to_have_count(2, timeout=15000)  # happy and sad by default
            happy = verdicts.first.inner_text()
            assert happy == server_sentence(campaign, "happy", language)
            assert happy.startswith(leads) if name == "clear" else happy.startswith(undecided), happy

    # English now: sad off, a wider difference to detect; both stay in the page's address.
    page.locator(".emotion-picker summary").click()
    page.locator("#decision-emotions input[value=sad]").uncheck()
    expect(page.locator("#decision-verdicts li")).to_have_count(1)
    page.fill("#detect-input", "10")
    page.locator("#detect-form button").click()
    expect(page.locator('[data-testid="plan-happy"]')).to_contain_text("To detect a difference of 10 points in happy")
    page.reload()
    expect(page.locator('[data-testid="plan-happy"]')).to_contain_text("To detect a difference of 10 points in happy")
    assert page.locator("#decision-verdicts li").count() == 1
    assert "emotions=happy" in page.url and "detect=10" in page.url
