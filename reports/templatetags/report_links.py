"""The report panel on the dashboard page: the page belongs to the dashboard, which comes before
this app, so the page asks for the panel by name here instead of its view importing this app."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from reports.forms import ReportLinkForm
from reports.selectors import active_report_links
from reports.services import MAX_LINK_DAYS

register = template.Library()


@register.inclusion_tag("reports/_panel.html", takes_context=True)
def report_panel(context: template.Context, campaign) -> dict[str, Any]:
    """`{% report_panel campaign %}`: downloads, a form for a new share link and the working links."""
    ids = {"campaign_id": campaign.pk}
    links = list(active_report_links(campaign=campaign))
    for link in links:
        link.revoke_url = reverse("reports:link-revoke", kwargs={**ids, "link_id": link.pk})
    return {
        "csrf_token": context.get("csrf_token"),
        "html_url": reverse("reports:html", kwargs=ids),
        "pdf_url": reverse("reports:pdf", kwargs=ids),
        "create_url": reverse("reports:link-create", kwargs=ids),
        "form": ReportLinkForm(),
        "max_days": MAX_LINK_DAYS,
        "links": links,
    }
