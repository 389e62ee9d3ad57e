"""A campaign outlives the account of the researcher who created it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import CAMPAIGN_FIELDS, campaign_update
from campaigns.tests.conftest import PASSWORD, make_campaign


@pytest.mark.django_db
def test_a_colleague_can_still_edit_a_campaign_after_its_creators_account_was_deleted(personas, client):
    campaign = make_campaign(personas)
    personas.owner.delete()
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.created_by is None

    updated = campaign_update(campaign=campaign, consent_text="I agree, second wording.", name="Herbst 2")

    assert Campaign.objects.get(pk=updated.pk).name == "Herbst 2"
    # The same through the edit form, as the colleague sees it.
    assert client.login(username=personas.teammate.username, password=PASSWORD)
    form = {name: getattr(updated, name) for name in CAMPAIGN_FIELDS if name != "keep_frames"}
    response = client.post(
        reverse("campaigns:edit", kwargs={"campaign_id": campaign.pk}),
        {**form, "name": "Herbst 3", "consent_text": "I agree, third wording."},
    )
    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).name == "Herbst 3"
