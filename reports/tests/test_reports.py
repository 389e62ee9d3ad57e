"""The campaign report: the researcher's HTML and PDF of the demo's closed campaign, the share link
that works without login until it is revoked or expires, and who may do what."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from PIL import Image

from campaigns.media_validation import validate_variant_upload
from campaigns.models import Campaign, Marker, Organisation
from campaigns.tests.conftest import make_researcher
from campaigns.tokens import hash_token
from config.errors import ApplicationError
from dashboard.selectors import dashboard_data
from reports import services
from reports.models import ReportLink
from reports.tests.pdf_text import pdf_metadata_strings, pdf_text
from sessions.models import SurveyAnswer
from tests.support.study import make_study

OTHER_CAMPAIGN = "Geheimprojekt Sommer 7b"


@dataclass
class Demo:
    campaign: Campaign
    live_campaign: Campaign
    researcher: object
    teammate: object
    outsider: object


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Demo]:
    """`manage.py demo` (its closed campaign has 12 testers through the real analysis), run once for
    the module inside a transaction that is rolled back after it, so no other module sees it. Each
    test runs in a savepoint of its own within it. By the command's name: the demo app comes after
    this one."""
    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media), transaction.atomic():
        call_command("demo", stdout=StringIO())
        campaign = Campaign.objects.get(is_demo=True, status=Campaign.Status.CLOSED)
        live = Campaign.objects.get(is_demo=True, status=Campaign.Status.RUNNING)
        Campaign.objects.create(
            organisation=campaign.organisation, name=OTHER_CAMPAIGN, language=Campaign.Language.GERMAN
        )
        outsider = make_researcher("report-outsider", Organisation.objects.create(name="Agentur Zwei"))
        researcher = get_user_model().objects.get(username="researcher")
        teammate = make_researcher("report-teammate", campaign.organisation)
        yield Demo(campaign, live, researcher, teammate, outsider)
        transaction.set_rollback(True)
    # With a broker the demo's snapshots were queued as well as analysed here: no later worker may get them.
    from config.celery import app

    app.control.purge()


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _without_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _assert_only_aggregates(html: str, campaign: Campaign) -> None:
    """No tester's id (whole or as the dashboard shortens it) and no comment a tester wrote."""
    answers = SurveyAnswer.objects.filter(tester__campaign=campaign)
    testers = {str(tester_id) for tester_id in answers.values_list("tester_id", flat=True)}
    assert len(testers) >= 10
    assert not [tester for tester in testers if tester in html or tester[:8] in html]
    comments = set(answers.exclude(comment="").values_list("comment", flat=True))
    assert len(comments) >= 5
    assert not [comment for comment in comments if escape(comment) in html or comment in html]


@pytest.mark.django_db
def test_the_researcher_downloads_the_report_as_one_self_contained_page_in_the_campaigns_language(client, demo):
    client.force_login(demo.researcher)
    spot = demo.campaign.variants.filter(kind="video").first()
    Marker.objects.create(variant=spot, at_ms=4000, kind=Marker.Kind.END_CARD, label="Logo am Ende")
    response = client.get(reverse("reports:html", kwargs={"campaign_id": demo.campaign.pk}))

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert response["Content-Disposition"].startswith("attachment;") and ".html" in response["Content-Disposition"]
    html = response.content.decode()
    # The demo campaign is German, so is its report, whatever the researcher's own language.
    assert '<html lang="de">' in html and escape(demo.campaign.name) in html
    for heading in (
        "Einschätzung",
        "Fortschritt",
        "Aufmerksamkeit",
        "Momente: Sekunde für Sekunde",
        "Befragung",
    ):
        assert heading in html
    assert "Estimated share of each emotion" not in html and "Timeline of video variants" not in html
    # The very sentences the dashboard shows, from its own figures.
    with translation.override("de"):
        data = dashboard_data(campaign=demo.campaign)
    verdicts = {row["class_name"]: row["sentence"] for row in data["decision"]["emotions"]}
    assert escape(verdicts["happy"]) in html and escape(verdicts["sad"]) in html
    assert escape(data["calibration"]["label"]) in html and data["model"]["version"] in html
    # Charts drawn here: bars with whiskers per variant, each variant's moments as lines, the ratings.
    charts = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(charts) == 2 + len(data["variants"]) + len(data["survey"]["questions"])
    assert all(escape(variant["label"]) in charts[0] for variant in data["variants"])
    assert all('stroke-width="2"' in chart for chart in charts[2 : 2 + len(data["variants"])])
    # The marker's row: the seconds after it against those before, for each emotion of the verdict.
    marker_row = re.search(r"<tr><td>[^<]*</td><td>Logo am Ende</td>.*?</tr>", html).group(0)
    assert "→" in marker_row and marker_row.count("</td>") == 4 + 2 * 2
    # Self-contained: nothing to fetch, nothing to run.
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""\s(?:src|href)=["']?(?:https?:|//|/)""", html)
    _assert_only_aggregates(html, demo.campaign)


@pytest.mark.django_db
def test_the_pdf_is_the_same_report_with_the_campaign_name_in_its_text(client, demo):
    client.force_login(demo.teammate)  # anyone of the organisation
    response = client.get(reverse("reports:pdf", kwargs={"campaign_id": demo.campaign.pk}))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    pdf = _body(response)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf)
    assert _without_space(demo.campaign.name) in _without_space(text)
    assert "Einschätzung" in text and "Befragung" in text
    assert demo.campaign.name in pdf_metadata_strings(pdf)  # the document's title and first heading
    _assert_only_aggregates(text, demo.campaign)


@pytest.mark.django_db
def test_a_share_link_shows_that_report_without_login_until_it_is_revoked(client, demo):
    client.force_login(demo.researcher)
    created = client.post(reverse("reports:link-create", kwargs={"campaign_id": demo.campaign.pk}), {"days": "7"})
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    url = re.search(r'value="(https?://[^"]+/r/([\w-]{43})/)"', created.content.decode())
    assert url, "the new link is shown once"
    token = url.group(2)
    link = ReportLink.objects.get(campaign=demo.campaign)
    assert link.token_hash == hash_token(token) and link.created_by == demo.researcher
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    dashboard = client.get(reverse("dashboard:campaign", kwargs={"campaign_id": demo.campaign.pk})).content.decode()
    revoke_url = reverse("reports:link-revoke", kwargs={"campaign_id": demo.campaign.pk, "link_id": link.pk})
    assert 'data-testid="report-links"' in dashboard and revoke_url in dashboard and token not in dashboard

    client.logout()
    page = client.get(f"/r/{token}/")
    assert page.status_code == 200 and page["Content-Language"] == "de"
    assert "no-store" in page["Cache-Control"] and "noindex" in page["X-Robots-Tag"]
    html = page.content.decode()
    assert escape(demo.campaign.name) in html and "Einschätzung" in html
    assert OTHER_CAMPAIGN not in html and escape(demo.live_campaign.name) not in html and "Agentur Zwei" not in html
    assert f'href="/r/{token}/report.pdf"' in html
    _assert_only_aggregates(html, demo.campaign)
    pdf = client.get(f"/r/{token}/report.pdf")
    assert pdf.status_code == 200 and pdf["Content-Disposition"].startswith("inline;")
    assert _body(pdf).startswith(b"%PDF-")

    client.force_login(demo.researcher)
    revoked = client.post(revoke_url)
    assert revoked.status_code == 302 and revoked["Location"].endswith("/dashboard/#report")
    client.logout()
    assert client.get(f"/r/{token}/").status_code == 404
    assert client.get(f"/r/{token}/report.pdf").status_code == 404


@pytest.mark.django_db
def test_expired_revoked_and_unknown_links_get_the_same_404(client, demo):
    expired, expired_token = services.report_link_create(campaign=demo.campaign, created_by=demo.researcher)
    revoked, revoked_token = services.report_link_create(campaign=demo.campaign, created_by=demo.researcher)
    ReportLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.report_link_revoke(link=revoked)
    services.report_link_revoke(link=revoked)  # twice: still revoked, no error

    answers = [client.get(f"/r/{token}/") for token in (expired_token, revoked_token, "x" * 43)]
    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert answers[0].content == answers[1].content == answers[2].content
    assert demo.campaign.name not in answers[0].content.decode()


@pytest.mark.django_db
def test_other_organisations_get_404_and_anonymous_visitors_the_login(client, demo):
    link, token = services.report_link_create(campaign=demo.campaign, created_by=demo.researcher)
    ids = {"campaign_id": demo.campaign.pk}
    revoke = reverse("reports:link-revoke", kwargs={**ids, "link_id": link.pk})

    client.force_login(demo.outsider)
    assert client.get(reverse("reports:html", kwargs=ids)).status_code == 404
    assert client.get(reverse("reports:pdf", kwargs=ids)).status_code == 404
    assert client.post(reverse("reports:link-create", kwargs=ids), {"days": "14"}).status_code == 404
    assert client.post(revoke).status_code == 404
    assert ReportLink.objects.filter(campaign=demo.campaign).count() == 1
    link.refresh_from_db()
    assert link.revoked_at is None

    client.logout()
    login = reverse("login")
    assert client.get(reverse("reports:html", kwargs=ids))["Location"].startswith(login)
    assert client.post(revoke)["Location"].startswith(login)
    assert client.get(f"/r/{token}/").status_code == 200  # the link itself needs no login


@pytest.mark.django_db
def test_a_link_lasts_from_one_to_ninety_days_fourteen_unless_chosen(client, demo):
    link, _token = services.report_link_create(campaign=demo.campaign, created_by=demo.researcher)
    assert timedelta(days=13, hours=23) < link.expires_at - timezone.now() <= timedelta(days=14)
    longest, _token = services.report_link_create(campaign=demo.campaign, created_by=None, days=90)
    assert longest.expires_at - longest.created_at == timedelta(days=90)
    for days in (0, 91):
        with pytest.raises(ApplicationError):
            services.report_link_create(campaign=demo.campaign, created_by=None, days=days)

    client.force_login(demo.researcher)
    refused = client.post(
        reverse("reports:link-create", kwargs={"campaign_id": demo.campaign.pk}), {"days": "365"}, follow=True
    )
    assert refused.redirect_chain[0][0].endswith("/dashboard/#report")
    assert ReportLink.objects.filter(campaign=demo.campaign).count() == 2


@pytest.mark.django_db
def test_figures_of_fewer_testers_than_the_dashboards_smallest_group_stay_out(client, demo, settings):
    with translation.override("de"):
        data = dashboard_data(campaign=demo.campaign)
    counted = data["testers"]["included"]
    answers = min(row["n"] for question in data["survey"]["questions"] for row in question["variants"])
    assert answers > counted >= 5
    url = reverse("reports:html", kwargs={"campaign_id": demo.campaign.pk})
    client.force_login(demo.researcher)

    settings.MIMIK = {**settings.MIMIK, "MIN_AUDIENCE_TESTERS": counted + 1}
    html = client.get(url).content.decode()
    assert 'data-testid="too-few"' in html
    assert escape(data["decision"]["emotions"][0]["sentence"]) not in html
    # Only the survey's charts are left: its questions have enough answers.
    assert len(re.findall(r"<svg\b", html)) == len(data["survey"]["questions"])

    settings.MIMIK = {**settings.MIMIK, "MIN_AUDIENCE_TESTERS": answers + 1}
    html = client.get(url).content.decode()
    assert "<svg" not in html
    means = {f"{row['mean']:.1f}".replace(".", ",") for row in data["survey"]["questions"][0]["variants"]}
    assert not [mean for mean in means if f">{mean}<" in html]


@pytest.mark.django_db
def test_the_report_of_an_english_campaign_without_results_yet_is_english(client):
    study = make_study(invitations=1)  # running, English, nobody has taken part
    owner = make_researcher("english-owner", study.campaign.organisation)
    client.force_login(owner)
    # The researcher's own language does not matter.
    response = client.get(reverse("reports:html", kwargs={"campaign_id": study.campaign.pk}), HTTP_ACCEPT_LANGUAGE="de")
    html = response.content.decode()
    assert response.status_code == 200 and '<html lang="en">' in html
    assert "Verdict" in html and "Survey" in html and "Einschätzung" not in html
    assert "Spring posters" in html and 'data-testid="too-few"' in html and "<svg" not in html


@pytest.mark.django_db
def test_a_variant_cut_short_is_still_refused_after_a_pdf_was_drawn(client, demo):
    client.force_login(demo.researcher)
    assert client.get(reverse("reports:pdf", kwargs={"campaign_id": demo.campaign.pk})).status_code == 200
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 80).save(buffer, format="PNG")
    cut_short = SimpleUploadedFile("poster.png", buffer.getvalue()[: len(buffer.getvalue()) // 2], "image/png")

    with pytest.raises(ValidationError, match="cannot be read"):
        validate_variant_upload(cut_short)
