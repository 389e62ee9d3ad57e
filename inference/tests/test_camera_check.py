"""The camera check: one test snapshot, a verdict in the campaign's language, nothing stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from campaigns.models import Campaign, Invitation
from inference.api import VERDICT_MESSAGES
from sessions import services as tester_services
from tests.support.camera import jpeg_bytes
from tests.support.study import make_study


@pytest.mark.django_db
def test_camera_check_answers_in_the_campaign_language_not_the_browsers(client):
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(language=Campaign.Language.GERMAN)
    tester_services.tester_consent(
        tester=tester_services.tester_create_for_invitation(invitation=Invitation.objects.get())
    )
    url = reverse("inference-api:camera-check", kwargs={"token": study.tokens[0]})

    response = client.post(
        url, {"image": SimpleUploadedFile("s.jpg", jpeg_bytes(), "image/jpeg")}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    verdict = response.json()["verdict"]
    with translation.override("de"):
        german = str(VERDICT_MESSAGES[verdict])
    with translation.override("en"):
        assert german != str(VERDICT_MESSAGES[verdict])
    assert response.json()["message"] == german
    assert response["Content-Language"] == "de"
