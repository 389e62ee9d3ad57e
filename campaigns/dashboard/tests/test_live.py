"""The served app end to end: the websocket through the real Redis channel layer, and the page in
Chromium updating itself when a prediction arrives."""

from __future__ import annotations

import json
import threading

import pytest
from django.test import Client
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from campaigns.live import publish_campaign_event

from .conftest import add_frame


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


@pytest.mark.browser
def test_dashboard_renders_charts_and_updates_when_a_prediction_arrives(asgi_server, browser, fixed, owner):
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

    frame = add_frame(fixed.testers["t1"], fixed.a, 50, "happy", 0.95)
    event = {"kind": "frame", "variant_id": str(fixed.a.pk), "outcome": frame.outcome, "top_class": "happy"}
    # Playwright runs an event loop in this thread, where async_to_sync refuses to work.
    publisher = threading.Thread(
        target=publish_campaign_event, kwargs={"campaign_id": fixed.campaign.pk, "event": event}
    )
    publisher.start()
    publisher.join()

    expect(happy_a).to_have_text("3", timeout=15000)
    assert page.locator(f'[data-testid="frames-{fixed.a.pk}"]').first.inner_text() == "27"
    assert failed == []
    assert [error for error in errors if not error.startswith("Failed to load resource")] == []
