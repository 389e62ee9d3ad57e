"""The invitation e-mail: a text and an HTML part, in the campaign's language."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from campaigns.models import Invitation
from campaigns.selectors import estimated_minutes


def invitation_link(token: str) -> str:
    return settings.SITE_URL + reverse("tester:start", kwargs={"token": token})


def open_link(token: str) -> str:
    return settings.SITE_URL + reverse("tester:open", kwargs={"token": token})


def invitation_message(*, invitation: Invitation, token: str) -> EmailMultiAlternatives:
    campaign = invitation.campaign
    context = {
        "campaign": campaign,
        "link": invitation_link(token),
        "expires_at": invitation.expires_at,
        "organisation": campaign.organisation.name,
        # The start page's estimate, so the mail and the page promise the same time.
        "minutes": estimated_minutes(campaign=campaign),
    }
    # The tester's language is the campaign's, not the researcher's who clicked "send".
    with translation.override(campaign.language):
        subject = render_to_string("emails/invitation_subject.txt", context).strip()
        text = render_to_string("emails/invitation.txt", context)
        html = render_to_string("emails/invitation.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[invitation.email])
    message.attach_alternative(html, "text/html")
    return message
