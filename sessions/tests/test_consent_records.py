"""What a consent records and what a tester's data file says: the consent text actually shown,
counterbalancing slots that survive withdrawals, every model's prediction in the GDPR file, and
the camera check speaking the campaign's language."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Campaign, Invitation
from campaigns.services import consent_set
from sessions import services as tester_services
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree, shown_consent, stored_tester
from tests.support.study import CONSENT_TEXT, make_study

CHANGED_MESSAGE = "The consent text has changed since you opened this page. Please read it again."


# --- Consent to the text that was shown ---------------------------------------------------------


@pytest.mark.django_db
def test_agreeing_to_a_consent_text_edited_meanwhile_records_nothing_and_shows_the_new_text(client):
    study = make_study(invitations=1)
    token = study.tokens[0]
    url = reverse("tester:start", kwargs={"token": token})
    opened = shown_consent(client.get(url).content.decode())
    # Nobody accepted version 2 yet, so the researcher's edit rewrites it in place (same id).
    consent_set(campaign=study.campaign, text="New words: snapshots are also kept for a year.")

    response = client.post(url, {"choice": "agree", **opened})

    page = response.content.decode()
    assert response.status_code == 409
    assert CHANGED_MESSAGE in page
    assert "New words: snapshots are also kept for a year." in page and CONSENT_TEXT not in page
    tester = stored_tester(token)
    assert (tester.consented_at, tester.consent_version, tester.variant_order) == (None, None, [])
    # Agreeing on the page as shown now records that text.
    assert client.post(url, {"choice": "agree", **shown_consent(page)}).status_code == 302
    assert stored_tester(token).consent_version.text == "New words: snapshots are also kept for a year."


@pytest.mark.django_db
def test_agreeing_after_a_new_consent_version_was_added_records_nothing(client):
    study = make_study(invitations=2)
    early, late = study.tokens
    late_url = reverse("tester:start", kwargs={"token": late})
    opened = shown_consent(client.get(late_url).content.decode())
    assert agree(client, early).status_code == 302  # version 2 is accepted: a change adds version 3
    consent_set(campaign=study.campaign, text="Version three.")

    response = client.post(late_url, {"choice": "agree", **opened})

    assert response.status_code == 409 and CHANGED_MESSAGE in response.content.decode()
    assert stored_tester(late).consented_at is None
    assert stored_tester(early).consent_version.version == 2
    assert agree(client, late).status_code == 302
    assert stored_tester(late).consent_version.version == 3


@pytest.mark.django_db
def test_an_agree_post_that_does_not_name_the_text_shown_records_nothing(client):
    study = make_study(invitations=1)
    url = reverse("tester:start", kwargs={"token": study.tokens[0]})
    client.get(url)
    current = study.campaign.consent_versions.get(version=2)

    bare = client.post(url, {"choice": "agree"})
    wrong_words = client.post(url, {"choice": "agree", "consent_version": current.pk, "consent_fingerprint": "0" * 64})
    older = study.campaign.consent_versions.get(version=1)
    shown = shown_consent(bare.content.decode())
    old_version = client.post(url, {"choice": "agree", **shown, "consent_version": older.pk})

    assert [bare.status_code, wrong_words.status_code, old_version.status_code] == [409, 409, 409]
    assert stored_tester(study.tokens[0]).consented_at is None


@pytest.mark.django_db
def test_the_consent_changed_message_is_in_the_campaign_language(client):
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(language=Campaign.Language.GERMAN)

    response = client.post(
        reverse("tester:start", kwargs={"token": study.tokens[0]}), {"choice": "agree"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    with translation.override("de"):
        german = translation.gettext(CHANGED_MESSAGE)
    assert response.status_code == 409 and german in response.content.decode()


# --- Counterbalancing slots ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_withdrawal_does_not_hand_its_order_slot_out_again(client):
    study = make_study(invitations=3)
    first, second, third = study.tokens
    ids = [str(variant.pk) for variant in study.variants]
    agree(client, first)
    agree(client, second)
    assert (stored_tester(first).variant_order, stored_tester(second).variant_order) == (ids, ids[::-1])

    tester_services.tester_withdraw(tester=stored_tester(first))
    agree(client, third)

    # Slot 1 (B, A) is taken by the second tester, who is still there: the third gets slot 2 (A, B).
    assert stored_tester(third).order_slot == 2
    assert stored_tester(third).variant_order == ids
    assert Campaign.objects.get(pk=study.campaign.pk).next_order_slot == 3


@pytest.mark.django_db(transaction=True)
def test_simultaneous_consents_get_distinct_slots():
    study = make_study(invitations=6)
    testers = [
        tester_services.tester_create_for_invitation(invitation=invitation)
        for invitation in Invitation.objects.filter(campaign=study.campaign)
    ]
    barrier = threading.Barrier(len(testers))
    errors: list[BaseException] = []

    def consent(tester: StudyTester) -> None:
        try:
            barrier.wait(timeout=10)
            tester_services.tester_consent(tester=tester)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=consent, args=(tester,)) for tester in testers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    slots = sorted(StudyTester.objects.filter(campaign=study.campaign).values_list("order_slot", flat=True))
    assert slots == list(range(6))


@pytest.mark.django_db
def test_the_migration_continues_each_campaign_after_its_testers_highest_slot():
    study, empty = make_study(invitations=3), make_study(invitations=0, organisation_name="Other")
    for slot, invitation in enumerate(Invitation.objects.filter(campaign=study.campaign)):
        tester = tester_services.tester_create_for_invitation(invitation=invitation)
        StudyTester.objects.filter(pk=tester.pk).update(consented_at=timezone.now(), order_slot=slot * 2)
    Campaign.objects.update(next_order_slot=0)
    migration = importlib.import_module("campaigns.migrations.0004_campaign_next_order_slot")

    migration.continue_after_existing_slots(apps, None)

    assert Campaign.objects.get(pk=study.campaign.pk).next_order_slot == 5
    assert Campaign.objects.get(pk=empty.campaign.pk).next_order_slot == 0


# --- The tester's data file ---------------------------------------------------------------------


# --- The camera check's language ----------------------------------------------------------------
