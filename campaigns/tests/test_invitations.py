"""Invitations: address lists, the e-mail itself, states with counts, resend and revoke."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Invitation
from campaigns.selectors import estimated_minutes
from campaigns.services import invitation_send
from campaigns.tests.conftest import make_campaign
from campaigns.tokens import hash_token


def states_on_page(client, campaign) -> tuple[dict[str, str], dict[str, int]]:
    page = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()
    rows = dict(re.findall(r'<tr data-email="([^"]+)">.*?class="badge state-(\w+)"', page, re.S))
    counts = {state: int(count) for state, count in re.findall(r'data-state="(\w+)"><span class="count">(\d+)', page)}
    return rows, counts


@pytest.mark.django_db
def test_pasted_and_csv_addresses_report_duplicates_and_malformed_ones(client, personas):
    campaign = make_campaign(personas)
    Invitation.objects.create(
        campaign=campaign, email="old@example.com", token_hash="1" * 64, expires_at=timezone.now()
    )
    client.force_login(personas.owner)
    csv_file = SimpleUploadedFile("list.csv", b"Name;E-Mail\nAnna;anna@example.com\nCarl;carl@example\n")
    response = client.post(
        reverse("campaigns:invitations_add", kwargs={"campaign_id": campaign.pk}),
        {
            "addresses": "Ben@Example.org, ben@example.org; not-an-address\nold@example.com\n\ndora@example.de",
            "csv_file": csv_file,
        },
        follow=True,
    )
    page = response.content.decode()
    assert "3 invitations are being sent." in page
    assert "Listed twice, invited once: ben@example.org" in page
    assert "Already invited, not sent again: old@example.com" in page
    assert "Not valid e-mail addresses, not sent: not-an-address, carl@example" in page
    invited = set(campaign.invitations.values_list("email", flat=True))
    assert invited == {"old@example.com", "ben@example.org", "dora@example.de", "anna@example.com"}
    expires = campaign.invitations.get(email="anna@example.com").expires_at
    assert timedelta(days=13, hours=23) < expires - timezone.now() <= timedelta(days=14)

    empty = client.post(reverse("campaigns:invitations_add", kwargs={"campaign_id": campaign.pk}), {"addresses": " "})
    assert "Enter at least one e-mail address" in empty.content.decode()


@pytest.mark.django_db
def test_the_email_has_text_and_html_parts_and_is_sent_once(client, personas, mailoutbox, settings):
    campaign = make_campaign(personas, language="en")
    token = "a-raw-token-of-the-test"
    invitation = Invitation.objects.create(
        campaign=campaign,
        email="anna@example.com",
        token_hash=hash_token(token),
        expires_at=timezone.now() + timedelta(days=3),
    )
    assert invitation_send(invitation_id=invitation.pk, token=token) is True
    assert invitation_send(invitation_id=invitation.pk, token=token) is False  # a redelivered task
    assert invitation_send(invitation_id=invitation.pk, token="a-rotated-away-token") is False
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    link = settings.SITE_URL + reverse("tester:start", kwargs={"token": token})
    assert message.to == ["anna@example.com"]
    assert "Verlag Eins" in message.subject
    assert link in message.body
    # The duration the start page will show, not a fixed "ten minutes".
    assert f"it takes about {estimated_minutes(campaign=campaign)} minute" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f'href="{link}"' in html
    client.force_login(personas.owner)
    assert states_on_page(client, campaign)[0] == {"anna@example.com": "sent"}


@pytest.mark.django_db
def test_states_counts_bounce_resend_and_revoke(client, personas, settings, mailoutbox):
    campaign = make_campaign(personas)
    now = timezone.now()
    later = now + timedelta(days=5)
    rows = {
        email: Invitation.objects.create(campaign=campaign, email=email, token_hash=hash_token(email), expires_at=later)
        for email in ["a@x.de", "b@x.de", "c@x.de", "d@x.de", "e@x.de", "f@x.de", "g@x.de"]
    }
    Invitation.objects.filter(pk=rows["a@x.de"].pk).update(sent_at=now)
    Invitation.objects.filter(pk=rows["b@x.de"].pk).update(sent_at=now, opened_at=now)
    campaign.testers.create(invitation=rows["c@x.de"], token_hash="c" * 64, consented_at=now)
    campaign.testers.create(invitation=rows["d@x.de"], token_hash="d" * 64, consented_at=now, completed_at=now)
    Invitation.objects.filter(pk=rows["e@x.de"].pk).update(sent_at=now, opened_at=now, withdrawn_at=now)
    Invitation.objects.filter(pk=rows["f@x.de"].pk).update(sent_at=now, expires_at=now - timedelta(days=1))
    # A real send failure: nothing listens on port 1.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    assert invitation_send(invitation_id=rows["g@x.de"].pk, token="g@x.de") is False

    client.force_login(personas.owner)
    states, counts = states_on_page(client, campaign)
    assert states == {
        "a@x.de": "sent",
        "b@x.de": "opened",
        "c@x.de": "consented",
        "d@x.de": "completed",
        "e@x.de": "withdrawn",
        "f@x.de": "expired",
        "g@x.de": "bounced",
    }
    assert counts == {
        "queued": 0, "sent": 1, "opened": 1, "consented": 1, "completed": 1,
        "withdrawn": 1, "expired": 1, "bounced": 1, "revoked": 0,
    }  # fmt: skip
    assert "ConnectionRefusedError" in Invitation.objects.get(pk=rows["g@x.de"].pk).send_error

    def post(action: str, email: str):
        kwargs = {"campaign_id": campaign.pk, "invitation_id": rows[email].pk}
        return client.post(reverse(f"campaigns:invitation_{action}", kwargs=kwargs), follow=True)

    # Resend rotates the token, also on the tester who already opened the link.
    tester = campaign.testers.create(invitation=rows["b@x.de"], token_hash=hash_token("b@x.de"))
    assert "A new link is on its way to b@x.de" in post("resend", "b@x.de").content.decode()
    post("resend", "g@x.de")
    resent = Invitation.objects.get(pk=rows["b@x.de"].pk)
    assert resent.token_hash != hash_token("b@x.de")
    tester.refresh_from_db()
    assert tester.token_hash == resent.token_hash
    assert Invitation.objects.get(pk=rows["g@x.de"].pk).send_error == ""
    assert "already taken part or withdrawn" in post("resend", "d@x.de").content.decode()

    post("revoke", "a@x.de")
    states, counts = states_on_page(client, campaign)
    assert (states["a@x.de"], states["b@x.de"], states["g@x.de"]) == ("revoked", "opened", "queued")
    assert (counts["revoked"], counts["bounced"], counts["queued"]) == (1, 0, 1)


@pytest.mark.django_db
def test_open_link_is_shown_once_and_a_new_one_invalidates_it(client, personas):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    url = reverse("campaigns:open_link_create", kwargs={"campaign_id": campaign.pk})
    page = client.post(url, {"quota": 25}).content.decode()
    assert "up to 25 testers" in page
    first = re.search(r'value="(http[^"]+/t/open/([^/"]+)/)"', page)
    campaign.refresh_from_db()
    assert campaign.open_link_quota == 25 and campaign.open_link_token_hash == hash_token(first.group(2))
    detail = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()
    assert "0 of 25 testers" in detail and first.group(2) not in detail

    second = re.search(r"/t/open/([^/\"]+)/", client.post(url, {"quota": 30}).content.decode()).group(1)
    campaign.refresh_from_db()
    assert second != first.group(2) and campaign.open_link_token_hash == hash_token(second)
    client.post(reverse("campaigns:open_link_disable", kwargs={"campaign_id": campaign.pk}))
    campaign.refresh_from_db()
    assert campaign.open_link_token_hash == ""


@pytest.mark.django_db
def test_a_batch_of_only_invalid_addresses_reports_no_success_and_one_invitation_is_singular(client, personas):
    campaign = make_campaign(personas)
    client.force_login(personas.owner)
    url = reverse("campaigns:invitations_add", kwargs={"campaign_id": campaign.pk})
    page = client.post(url, {"addresses": "anna@, ben(at)example.org"}, follow=True).content.decode()
    assert "Not valid e-mail addresses, not sent: anna@, ben(at)example.org" in page
    assert 'class="success"' not in page and "being sent" not in page

    page = client.post(url, {"addresses": "carla@example.org"}, follow=True).content.decode()
    assert '<li class="success">1 invitation is being sent.</li>' in page
