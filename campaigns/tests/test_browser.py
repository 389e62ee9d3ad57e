"""The researcher's whole setup in real Chromium, with the real worker sending the invitations."""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path

import pytest
from django.conf import settings

from campaigns.models import Campaign
from campaigns.tests.conftest import PASSWORD, image_bytes

CONSENT = "While you watch, the page takes snapshots with your camera; they are analysed and discarded."


def read_outbox(mail_dir: Path, expected: int, timeout: float = 30) -> list[email.message.EmailMessage]:
    """Messages the worker's file e-mail backend wrote (one file per connection, several per file)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = []
        for path in sorted(mail_dir.glob("*.log")):
            for raw in path.read_text().split("-" * 79 + "\n"):
                if raw.strip():
                    messages.append(email.message_from_string(raw, policy=policy.default))
        if len(messages) >= expected or time.monotonic() > deadline:
            return messages
        time.sleep(0.3)


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/campaigns/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/campaigns/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_researcher_sets_up_a_campaign_and_invites_three_testers(
    personas, celery_worker, asgi_server, browser, tmp_path
):
    base = asgi_server.url
    page = browser.new_context().new_page()
    log_in(page, base, "owner")

    page.get_by_role("link", name="New campaign").click()
    page.fill("#id_name", "Herbstkatalog")
    page.select_option("#id_language", "en")
    page.fill("#id_consent_text", CONSENT)
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Campaign created.")
    campaign_url = page.url
    for label, colour in [("A: Leseglück", (31, 95, 191)), ("B: Bestseller", (179, 38, 30))]:
        poster = tmp_path / f"{colour[0]}.png"
        poster.write_bytes(image_bytes("PNG", (320, 200), colour))
        page.get_by_role("link", name="Add a variant").click()
        page.fill("#id_label", label)
        page.set_input_files("#id_file", str(poster))
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("text=Variant added.")
    page.get_by_role("link", name="Add a question").click()
    page.fill("#id_text", "How much do you like this ad?")
    page.fill("#id_min_label", "not at all")
    page.fill("#id_max_label", "very much")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Start campaign").click()
    page.wait_for_selector("text=The campaign is running.")
    # The variants render through the access-checked media view.
    assert page.locator("#variants img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)") == [320, 320]

    page.fill("#id_addresses", "anna@example.com\nben@example.org, not-an-address; anna@example.com\ncarl@example.de")
    page.get_by_role("button", name="Send invitations").click()
    page.wait_for_selector("text=3 invitations are being sent.")
    assert page.get_by_text("Listed twice, invited once: anna@example.com").is_visible()
    assert page.get_by_text("Not valid e-mail addresses, not sent: not-an-address").is_visible()

    messages = read_outbox(celery_worker.mail_dir, expected=3)
    assert sorted(str(message["To"]) for message in messages) == [
        "anna@example.com",
        "ben@example.org",
        "carl@example.de",
    ], celery_worker.log()
    links = []
    for message in messages:
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        link = re.search(re.escape(settings.SITE_URL) + r"/t/[\w-]{43}/", text).group(0)
        assert f'href="{link}"' in html
        links.append(link)
    assert len(set(links)) == 3

    tester = browser.new_context().new_page()
    for link in links:
        response = tester.goto(link.replace(settings.SITE_URL, base))
        assert response.status == 200
        assert tester.get_by_text(CONSENT).is_visible()

    page.reload()
    counts = dict(
        zip(
            page.locator("#invitations .counts li").evaluate_all("l => l.map(e => e.dataset.state)"),
            page.locator("#invitations .counts .count").all_inner_texts(),
            strict=True,
        )
    )
    assert counts["opened"] == "3" and counts["sent"] == "0" and counts["queued"] == "0"

    campaign = Campaign.objects.get(name="Herbstkatalog")
    variant = campaign.variants.first()
    outsider = browser.new_context().new_page()
    log_in(outsider, base, "outsider")
    assert "Herbstkatalog" not in outsider.content()
    for path in [
        "",
        "edit/",
        "variants/new/",
        f"variants/{variant.pk}/media/",
        f"variants/{variant.pk}/edit/",
        "invitations/new/",
        "dashboard/",
    ]:
        assert outsider.goto(campaign_url + path).status == 404, path
    for path in [
        "archive/",
        "start/",
        "close/",
        "open-link/",
        f"invitations/{campaign.invitations.first().pk}/revoke/",
    ]:
        response = outsider.request.post(campaign_url + path, headers={"X-CSRFToken": csrf(outsider)})
        assert response.status == 404, path
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.open_link_token_hash == ""
    assert not campaign.invitations.filter(revoked_at__isnull=False).exists()


def csrf(page) -> str:
    return next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
