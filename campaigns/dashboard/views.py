"""The comparison dashboard page. The numbers come from the JSON API; the page only renders them."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.selectors import get_campaign_for_user


@login_required
def campaign_dashboard(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = get_campaign_for_user(request.user, campaign_id)
    return render(request, "dashboard/campaign_dashboard.html", {"campaign": campaign})
