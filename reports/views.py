"""The report's pages: the researcher's downloads and share-link buttons (dashboard page), and the
share link's read-only pages, which need no login."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign
from campaigns.selectors import get_campaign_for_user
from config.errors import ApplicationError
from reports import selectors, services
from reports.forms import ReportLinkForm
from reports.rendering import kept_report_html, kept_report_pdf, report_html, report_pdf


def _filename(campaign: Campaign, extension: str) -> str:
    return f"{slugify(campaign.name) or 'campaign'}-report.{extension}"


def _file(content: bytes | str, content_type: str, filename: str, *, attachment: bool) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(attachment, filename)
    return response


def _dashboard(campaign: Campaign) -> HttpResponse:
    return redirect(reverse("dashboard:campaign", kwargs={"campaign_id": campaign.pk}) + "#report")


@login_required
@require_GET
def campaign_report_html(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, campaign_id)
    html = report_html(campaign=campaign)
    return _file(html, "text/html; charset=utf-8", _filename(campaign, "html"), attachment=True)


@login_required
@require_GET
def campaign_report_pdf(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, campaign_id)
    return _file(report_pdf(campaign=campaign), "application/pdf", _filename(campaign, "pdf"), attachment=True)


@login_required
@require_POST
def report_link_create(request: HttpRequest, campaign_id) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, campaign_id)
    form = ReportLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A share link lasts from 1 to %(max)s days.") % {"max": services.MAX_LINK_DAYS})
        return _dashboard(campaign)
    try:
        link, token = services.report_link_create(
            campaign=campaign, created_by=request.user, days=form.cleaned_data["days"]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return _dashboard(campaign)
    # Only the hash is stored, so this response is the one chance to see the link: no redirect
    # could carry it without keeping it somewhere.
    url = settings.SITE_URL + reverse("report-share:html", kwargs={"token": token})
    response = render(request, "reports/link_created.html", {"campaign": campaign, "link": link, "url": url})
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_POST
def report_link_revoke(request: HttpRequest, campaign_id, link_id: int) -> HttpResponse:
    link = selectors.get_report_link_for_user(request.user, campaign_id, link_id)
    services.report_link_revoke(link=link)
    messages.success(request, _("The share link no longer works."))
    return _dashboard(link.campaign)


def _shared(response: HttpResponse, campaign: Campaign) -> HttpResponse:
    # A revoked link must stop at once: no cache keeps the page. The token is in the address, so no
    # search engine may list it and no Referer may carry it on.
    patch_cache_control(response, private=True, no_store=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Content-Language"] = campaign.language
    return response


@require_GET
def shared_report(request: HttpRequest, token: str) -> HttpResponse:
    link = selectors.get_report_link_for_token(token)
    pdf_url = reverse("report-share:pdf", kwargs={"token": token})
    response = HttpResponse(kept_report_html(link=link, pdf_url=pdf_url), content_type="text/html; charset=utf-8")
    return _shared(response, link.campaign)


@require_GET
def shared_report_pdf(request: HttpRequest, token: str) -> HttpResponse:
    link = selectors.get_report_link_for_token(token)
    pdf = kept_report_pdf(link=link)
    response = _file(pdf, "application/pdf", _filename(link.campaign, "pdf"), attachment=False)
    return _shared(response, link.campaign)
