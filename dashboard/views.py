"""The comparison dashboard page. It is a shell: the numbers come from the JSON API, so the page,
the live refresh and the API can never disagree."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from campaigns.models import Marker
from campaigns.selectors import get_campaign_for_user
from dashboard import audiences
from dashboard.exports import EXPORTS, PER_TESTER
from dashboard.selectors import get_model_version_for_card
from dashboard.strings import moment_strings, page_strings
from sessions.selectors import get_tester_for_user, tester_personal_data


@login_required
def campaign_dashboard(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, campaign_id)
    context = {
        "campaign": campaign,
        "api_url": reverse("dashboard-api:data", kwargs={"campaign_id": campaign.pk}),
        "socket_path": f"/ws/campaigns/{campaign.pk}/",
        "exports": {  # "say-face" as exports.say_face in the template
            kind.replace("-", "_"): reverse("dashboard-api:export", kwargs={"campaign_id": campaign.pk, "kind": kind})
            for kind in EXPORTS
        },
        "strings": page_strings(),
        "moments_url": reverse("dashboard-api:moments", kwargs={"campaign_id": campaign.pk}),
        "markers_url": reverse("dashboard-api:markers", kwargs={"campaign_id": campaign.pk}),
        "marker_kinds": Marker.Kind.choices,
        "moment_strings": moment_strings(),
    }
    page = audiences.audience_page(campaign=campaign, query=request.GET)
    if page["audience"] is not None:
        only = "?" + urlencode({audiences.AUDIENCE: page["audience"].value})
        # The aggregate exports follow the audience; the per-tester ones refuse it (dashboard.exports).
        context["exports"] = {
            kind: url if kind.replace("_", "-") in PER_TESTER else url + only
            for kind, url in context["exports"].items()
        }
    context.update(page)
    return render(request, "dashboard/campaign_dashboard.html", context, status=page["audience_status"])


@login_required
def model_card(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """The model card stored at registration (ml.model_card), shown as escaped preformatted text."""
    model_version = get_model_version_for_card(model_version_id)
    return render(request, "dashboard/model_card.html", {"model_version": model_version})


@login_required
def tester_data(request: HttpRequest, campaign_id, tester_id) -> HttpResponse:
    """One tester's stored data as JSON, for answering their access request (GDPR Art. 15)."""
    tester = get_tester_for_user(request.user, campaign_id, tester_id)
    response = JsonResponse(tester_personal_data(tester=tester), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="tester-{tester.pk}.json"'
    return response
