"""What every page carries: the site's icon, also where browsers ask for it by its old name."""

from __future__ import annotations

import pytest
from django.templatetags.static import static
from django.urls import reverse


@pytest.mark.django_db
def test_pages_name_an_icon_and_favicon_ico_answers(client):
    page = client.get(reverse("login")).content.decode()
    assert f'<link rel="icon" href="{static("img/favicon.svg")}" type="image/svg+xml">' in page

    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    icon = b"".join(response.streaming_content) if response.streaming else response.content
    assert icon.startswith(b"\x00\x00\x01\x00")  # the ICO header

    svg = client.get(static("img/favicon.svg"))
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")


@pytest.mark.django_db
def test_the_campaign_page_shows_a_scale_without_end_labels_as_plain_numbers(client, personas):
    from campaigns.models import SurveyQuestion
    from campaigns.tests.conftest import make_campaign

    campaign = make_campaign(personas)
    SurveyQuestion.objects.create(campaign=campaign, text="Wie gefällt es Ihnen?", min_label="", max_label="")
    SurveyQuestion.objects.create(campaign=campaign, text="Wie klar ist es?", min_label="unklar", max_label="klar")
    client.force_login(personas.owner)

    page = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()

    assert 'Wie gefällt es Ihnen? <span class="muted">— 1 … 7' in page
    assert "(–)" not in page and "()" not in page
    assert "1 (unklar) … 7 (klar)" in page
