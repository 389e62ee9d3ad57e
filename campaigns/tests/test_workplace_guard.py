"""Emotion recognition at the workplace is prohibited (EU AI Act, Art. 5(1)(f)): addresses at the
organisation's own e-mail domains are invited only after the researcher confirms that these testers
are not its employees, and the confirmation is recorded."""

from __future__ import annotations

import html
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Invitation, WorkplaceConfirmation
from campaigns.selectors import workplace_confirmation_statement
from campaigns.services import WorkplaceConfirmationNeeded, invitations_create
from campaigns.tests.conftest import make_campaign


def invite(client, campaign, data: dict, **kwargs):
    return client.post(
        reverse("campaigns:invitations_add", kwargs={"campaign_id": campaign.pk}), data, follow=True, **kwargs
    )


def warning_on(page: str) -> str | None:
    """The text of the warning about the organisation's own domains, if the page shows one."""
    found = re.search(r'id="workplace-warning".*?<strong>(.*?)</strong>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def statement_on(page: str) -> str:
    return html.unescape(re.search(r'name="workplace_statement" value="([^"]*)"', page).group(1))


def textarea_on(page: str) -> str:
    return html.unescape(re.search(r'<textarea name="addresses"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def invited(campaign) -> set[str]:
    return set(campaign.invitations.values_list("email", flat=True))


def set_domains(organisation, domains: str) -> None:
    organisation.own_email_domains = domains
    organisation.save(update_fields=["own_email_domains"])


@pytest.mark.django_db
def test_own_domain_addresses_wait_for_the_confirmation_which_is_recorded(client, personas):
    set_domains(personas.organisation, "verlag-eins.de, verlag-eins.com")
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    pasted = "anna@verlag-eins.de, Ben@Verlag-Eins.com\ncarla@example.org"

    page = invite(client, campaign, {"addresses": pasted}).content.decode()
    assert warning_on(page).startswith("2 addresses are at verlag-eins.de, verlag-eins.com")
    assert "EU AI Act, Art. 5(1)(f)" in warning_on(page)
    assert invited(campaign) == set()  # nothing is sent before the researcher decides
    assert textarea_on(page).split() == ["anna@verlag-eins.de", "Ben@Verlag-Eins.com", "carla@example.org"]
    statement = statement_on(page)
    assert "are not employees of Verlag Eins" in statement

    unticked = invite(client, campaign, {"addresses": textarea_on(page), "workplace_statement": statement})
    assert warning_on(unticked.content.decode()) and invited(campaign) == set()
    assert not WorkplaceConfirmation.objects.exists()

    confirmed = invite(
        client,
        campaign,
        {"addresses": textarea_on(page), "workplace_statement": statement, "workplace_confirmed": "on"},
    ).content.decode()
    assert "3 invitations are being sent." in confirmed
    assert invited(campaign) == {"anna@verlag-eins.de", "ben@verlag-eins.com", "carla@example.org"}
    record = WorkplaceConfirmation.objects.get()
    assert (record.campaign, record.confirmed_by, record.confirmed_by_name) == (campaign, personas.owner, "owner")
    assert (record.domains, record.address_count, record.statement) == (
        ["verlag-eins.de", "verlag-eins.com"],
        2,
        statement,
    )
    assert record.confirmed_at is not None
    assert f"Your confirmation is recorded: {statement}" in html.unescape(confirmed)


@pytest.mark.django_db
def test_the_others_can_be_invited_without_the_own_domain_addresses(client, personas):
    set_domains(personas.organisation, "verlag-eins.de")
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    page = invite(client, campaign, {"addresses": "anna@verlag-eins.de carla@example.org dora@example.net"})
    assert "Invite only the other 2 addresses" in page.content.decode()

    done = invite(client, campaign, {"addresses": textarea_on(page.content.decode()), "leave_out_own_domain": "1"})
    text = html.unescape(done.content.decode())
    assert "2 invitations are being sent." in text
    assert "At your organisation's own domain and not confirmed, not sent: anna@verlag-eins.de" in text
    assert invited(campaign) == {"carla@example.org", "dora@example.net"}
    assert not WorkplaceConfirmation.objects.exists()


@pytest.mark.django_db
def test_the_service_refuses_own_domain_addresses_without_the_matching_confirmation(personas):
    set_domains(personas.organisation, "verlag-eins.de")
    campaign = make_campaign(personas)
    addresses = ["a@mail.verlag-eins.de", "b@verlag-eins.de", "c@not-verlag-eins.de", "d@verlag-eins.de.example.org"]

    with pytest.raises(WorkplaceConfirmationNeeded) as refused:
        invitations_create(campaign=campaign, addresses=addresses, invited_by=personas.owner)
    assert refused.value.extra["addresses"] == ["a@mail.verlag-eins.de", "b@verlag-eins.de"]  # subdomains count
    assert refused.value.extra["domains"] == ["verlag-eins.de"] and refused.value.extra["others"] == 2
    assert "2 addresses are at verlag-eins.de" in refused.value.message
    assert not Invitation.objects.exists()

    # A confirmation given for one address does not cover a list that has grown since.
    for_one = workplace_confirmation_statement(organisation=personas.organisation, domains=["verlag-eins.de"], count=1)
    with pytest.raises(WorkplaceConfirmationNeeded):
        invitations_create(
            campaign=campaign, addresses=addresses, invited_by=personas.owner, workplace_statement=for_one
        )
    assert not Invitation.objects.exists() and not WorkplaceConfirmation.objects.exists()

    report = invitations_create(
        campaign=campaign,
        addresses=addresses,
        invited_by=personas.owner,
        workplace_statement=refused.value.extra["statement"],
    )
    assert report.invited == [address.lower() for address in addresses]
    assert report.workplace_confirmation.address_count == 2


@pytest.mark.django_db
def test_without_a_list_the_researchers_own_domain_counts_unless_it_is_free_mail(client, personas):
    campaign = make_campaign(personas, language="en")
    personas.owner.email = "owner@verlag-eins.de"
    personas.owner.save(update_fields=["email"])
    client.force_login(personas.owner)
    page = invite(client, campaign, {"addresses": "kim@verlag-eins.de, lea@gmail.com"}).content.decode()
    assert warning_on(page).startswith("1 address is at verlag-eins.de")
    assert invited(campaign) == set()

    # The teammate's account is at a free-mail provider: that names no employer.
    personas.teammate.email = "teammate@web.de"
    personas.teammate.save(update_fields=["email"])
    client.force_login(personas.teammate)
    page = invite(client, campaign, {"addresses": "kim@verlag-eins.de, max@web.de"}).content.decode()
    assert warning_on(page) is None and "2 invitations are being sent." in page
    assert not WorkplaceConfirmation.objects.exists()


@pytest.mark.django_db
def test_free_mail_domains_never_count_even_when_listed(client, personas):
    with pytest.raises(ValidationError, match="gmail.com is a free-mail provider"):
        personas.organisation.own_email_domains = "verlag-eins.de, gmail.com"
        personas.organisation.full_clean()
    set_domains(personas.organisation, "gmail.com, t-online.de")  # past the validation, e.g. an old row
    personas.owner.email = "owner@t-online.de"
    personas.owner.save(update_fields=["email"])
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    page = invite(client, campaign, {"addresses": "lea@gmail.com, tom@t-online.de, ute@gmx.de"}).content.decode()
    assert warning_on(page) is None and "3 invitations are being sent." in page


@pytest.mark.django_db
def test_another_organisations_domains_do_not_matter(client, personas):
    set_domains(personas.organisation, "verlag-eins.de")
    set_domains(personas.other_organisation, "agentur-zwei.de")
    ours = make_campaign(personas, language="en")
    theirs = make_campaign(personas, language="en", organisation=personas.other_organisation)

    client.force_login(personas.owner)
    page = invite(client, ours, {"addresses": "paul@agentur-zwei.de"}).content.decode()
    assert warning_on(page) is None and invited(ours) == {"paul@agentur-zwei.de"}

    client.force_login(personas.outsider)
    page = invite(client, theirs, {"addresses": "anna@verlag-eins.de"}).content.decode()
    assert warning_on(page) is None and invited(theirs) == {"anna@verlag-eins.de"}
    page = invite(client, theirs, {"addresses": "paul@agentur-zwei.de"}).content.decode()
    assert warning_on(page).startswith("1 address is at agentur-zwei.de")


@pytest.mark.django_db
def test_csv_addresses_are_guarded_and_kept_for_the_confirmation(client, personas):
    set_domains(personas.organisation, "verlag-eins.de")
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    csv_file = SimpleUploadedFile("list.csv", b"Name;E-Mail\nAnna;anna@verlag-eins.de\nCarla;carla@example.org\n")
    page = invite(client, campaign, {"addresses": "dora@example.net", "csv_file": csv_file}).content.decode()
    assert warning_on(page).startswith("1 address is at verlag-eins.de")
    assert invited(campaign) == set()
    # A file input cannot be filled in again: the file's addresses are in the box now.
    assert "The addresses from the CSV file are in the box below now" in page
    kept = textarea_on(page)
    assert kept.split() == ["dora@example.net", "anna@verlag-eins.de", "carla@example.org"]

    done = invite(
        client, campaign, {"addresses": kept, "workplace_statement": statement_on(page), "workplace_confirmed": "on"}
    )
    assert "3 invitations are being sent." in done.content.decode()
    assert invited(campaign) == {"dora@example.net", "anna@verlag-eins.de", "carla@example.org"}
    assert WorkplaceConfirmation.objects.get().address_count == 1


@pytest.mark.django_db
def test_the_open_link_page_says_not_to_hand_it_to_employees(client, personas):
    campaign = make_campaign(personas, language="en")
    client.force_login(personas.owner)
    page = client.post(reverse("campaigns:open_link_create", kwargs={"campaign_id": campaign.pk}), {"quota": 20})
    notice = re.search(r'id="workplace-notice">(.*?)</p>', page.content.decode(), re.S).group(1)
    assert "Do not hand this link to employees of Verlag Eins" in notice
    assert "EU AI Act, Art. 5(1)(f)" in notice
