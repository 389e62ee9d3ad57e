"""A new user's first campaign, with the default settings only, in real Chromium: log in, create a
campaign with two images and a question through the pages, start it, invite two testers, walk both
with the fake camera (a real smiling face), and read the dashboard the real worker fills."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings

from campaigns.models import Campaign, Organisation
from campaigns.tests.conftest import PASSWORD, make_researcher
from campaigns.tests.test_browser import log_in, read_outbox
from tests.support.browser import wait_until
from tests.support.camera import astronaut_y4m
from tests.support.posters import poster_png

DASHBOARD_WAIT_SECONDS = 60


def walk_as_tester(browser, link: str, rating: int, comment: str) -> None:
    """The tester's pages speak the campaign's language (German by default): find controls by role
    and form, not by English text."""
    page = browser.new_context().new_page()
    page.goto(link)
    page.locator("button[name=choice][value=agree]").click()
    page.wait_for_url("**/camera/")
    page.locator("#camera-ok button[type=submit]").click(timeout=30_000)
    for _ in range(2):
        page.wait_for_url("**/survey/", timeout=60_000)
        page.locator(f"form.survey input[type=radio][value='{rating}']").first.check()
        page.locator("form.survey textarea").first.fill(comment)
        page.locator("form.survey button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/(watch|done)/$"))
    page.wait_for_url("**/done/")
    page.context.close()


def table_rows(page, selector: str) -> list[list[str]]:
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_first_campaign_with_default_settings_shows_results(celery_worker, asgi_server, fake_camera_browser, tmp_path):
    make_researcher("owner", Organisation.objects.create(name="Verlag Eins"))
    base = asgi_server.url
    browser = fake_camera_browser(astronaut_y4m(tmp_path))
    researcher = browser.new_context().new_page()
    log_in(researcher, base, "owner")

    researcher.get_by_role("link", name="New campaign").click()
    researcher.fill("#id_name", "Herbstkatalog 2027")
    # Content, not a setting: every campaign states its own consent text.
    researcher.fill("#id_consent_text", "Während Sie zusehen, macht die Seite Schnappschüsse mit Ihrer Kamera.")
    researcher.get_by_role("button", name="Save").click()
    researcher.wait_for_selector("text=Campaign created.")
    for label, colour in [("A: Leseglück", (31, 95, 191)), ("B: Bestseller", (179, 38, 30))]:
        path = tmp_path / f"{colour[0]}.png"
        path.write_bytes(poster_png(label, colour))
        researcher.get_by_role("link", name="Add a variant").click()
        researcher.fill("#id_label", label)
        researcher.set_input_files("#id_file", str(path))
        researcher.get_by_role("button", name="Save").click()
        researcher.wait_for_selector("text=Variant added.")
    researcher.get_by_role("link", name="Add a question").click()
    researcher.fill("#id_text", "Wie gefällt Ihnen diese Anzeige?")
    researcher.fill("#id_min_label", "gar nicht")
    researcher.fill("#id_max_label", "sehr")
    researcher.get_by_role("button", name="Save").click()
    researcher.get_by_role("link", name="Add a question").click()
    researcher.select_option("#id_kind", "text")
    researcher.fill("#id_text", "Was fällt Ihnen auf?")
    researcher.uncheck("#id_required")
    researcher.get_by_role("button", name="Save").click()
    researcher.get_by_role("button", name="Start campaign").click()
    researcher.wait_for_selector("text=The campaign is running.")

    researcher.fill("#id_addresses", "anna@example.com\nben@example.org")
    researcher.get_by_role("button", name="Send invitations").click()
    researcher.wait_for_selector("text=2 invitations are being sent.")
    messages = read_outbox(celery_worker.mail_dir, expected=2)
    links = [
        re.search(re.escape(settings.SITE_URL) + r"/t/[\w-]{43}/", m.get_body(("plain",)).get_content()).group(0)
        for m in messages
    ]
    assert len(set(links)) == 2, celery_worker.log()

    campaign = Campaign.objects.get(name="Herbstkatalog 2027")
    for link, rating in zip(links, (6, 4), strict=True):
        walk_as_tester(browser, link.replace(settings.SITE_URL, base), rating, f"Bewertung {rating}")
    last_tester_done = time.monotonic()

    dashboard = researcher
    dashboard.goto(f"{base}/campaigns/{campaign.pk}/dashboard/")
    # The live dashboard fills itself as the worker analyses the last snapshots.
    state = (
        "() => ({rows: document.querySelectorAll('#table-variants tbody tr').length,"
        " shares: document.querySelectorAll('#table-shares tbody tr').length,"
        " verdicts: document.getElementById('verdicts').innerText,"
        " counted: document.getElementById('excluded-note').innerText,"
        " error: document.getElementById('load-error').innerText})"
    )
    wait_until(
        dashboard,
        "document.querySelectorAll('#table-variants tbody tr').length > 0"
        " && document.querySelectorAll('#table-shares tbody tr').length > 0"
        " && document.querySelectorAll('#verdicts li').length > 0"
        " && /\\b2 testers are counted/.test(document.getElementById('excluded-note').innerText)",
        DASHBOARD_WAIT_SECONDS * 1000,
        describe=lambda: dashboard.evaluate(state),
    )
    assert time.monotonic() - last_tester_done < DASHBOARD_WAIT_SECONDS + 5

    # Columns: variant, emotion, count, frames, ratio, tester mean, interval, testers.
    happy = {row[0]: row for row in table_rows(dashboard, "#table-variants") if row[1] == "happy"}
    assert sorted(happy) == ["A: Leseglück", "B: Bestseller"]
    for row in happy.values():
        # Default settings: a 10 s image at one snapshot every 2 s gives 5 per tester, 10 for two.
        assert 6 <= int(row[3]) <= 10, row
        # A smiling face on both: (nearly) every counted frame is happy.
        assert float(row[4].replace(",", ".").rstrip(" %")) >= 80, row
    assert table_rows(dashboard, "#table-shares"), "estimated shares missing"
    assert "calibrat" in dashboard.locator("#calibration-name").inner_text().lower()
    assert "FER2013" in dashboard.locator("#calibration-name").inner_text()
    survey = dashboard.locator("#survey").inner_text()
    assert "Wie gefällt Ihnen diese Anzeige?" in survey
    assert survey.count("(Mean rating 5.00)") == 2, survey  # (6 + 4) / 2 on each variant
    api = dashboard.request.get(f"{base}/api/campaigns/{campaign.pk}/dashboard/").json()
    (rating,) = api["survey"]["questions"]  # the scale question; text answers are comments
    assert [sum(bar["count"] for bar in row["distribution"]) for row in rating["variants"]] == [2, 2]
    comments = dashboard.locator("#table-comments").inner_text()
    assert comments.count("Bewertung 6") == 2 and comments.count("Bewertung 4") == 2, comments
    assert PASSWORD not in dashboard.content()
