"""Screener questions: set up on the campaign page while it is a draft, locked once it runs, copied
with the campaign."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from campaigns.models import Campaign, ScreenerQuestion
from campaigns.services import campaign_duplicate
from campaigns.tests.conftest import PASSWORD, make_campaign


def _add(client, campaign: Campaign, **fields):
    return client.post(reverse("campaigns:screener_question_add", kwargs={"campaign_id": campaign.pk}), fields)


@pytest.mark.django_db
def test_a_draft_gets_the_fixed_kinds_with_their_choices_and_a_question_of_its_own(client, personas):
    campaign = make_campaign(personas, language=Campaign.Language.ENGLISH)
    assert client.login(username=personas.owner.username, password=PASSWORD)

    assert _add(client, campaign, kind="age_band", text="", choices="").status_code == 302
    assert _add(client, campaign, kind="gender", text="", choices="").status_code == 302
    assert _add(client, campaign, kind="customer", text="Do you shop at Verlag Eins?", choices="").status_code == 302
    incomplete = _add(client, campaign, kind="choice", text="", choices="Print\n")
    assert incomplete.status_code == 200
    assert "Write the question." in incomplete.text and "Give at least two choices." in incomplete.text
    repeated = _add(client, campaign, kind="choice", text="Which do you read?", choices="Print\nprint")
    assert "Each choice may appear only once." in repeated.text
    assert (
        _add(client, campaign, kind="choice", text="Which do you read?", choices="Print\n Online \n\n").status_code
        == 302
    )

    questions = [(q.kind, q.text, q.choices) for q in campaign.screener_questions.order_by("position")]
    assert questions == [
        ("age_band", "How old are you?", ["18-29", "30-44", "45-59", "60+"]),
        ("gender", "What is your gender?", ["Female", "Male", "Diverse", "Prefer not to say"]),
        ("customer", "Do you shop at Verlag Eins?", ["Yes", "No"]),
        ("choice", "Which do you read?", ["Print", "Online"]),
    ]
    page = html.unescape(client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).text)
    assert "Female · Male · Diverse · Prefer not to say" in page
    assert "Add a screener question" in page


@pytest.mark.django_db
def test_screener_questions_are_edited_and_deleted_in_a_draft_only(client, personas):
    campaign = make_campaign(personas)
    assert client.login(username=personas.owner.username, password=PASSWORD)
    _add(client, campaign, kind="choice", text="Which do you read?", choices="Print\nOnline")
    question = campaign.screener_questions.get()
    urls = {
        name: reverse(
            f"campaigns:screener_question_{name}", kwargs={"campaign_id": campaign.pk, "question_id": question.pk}
        )
        for name in ("edit", "delete")
    }

    client.post(urls["edit"], {"kind": "choice", "text": "Which do you read most?", "choices": "Print\nOnline\nBoth"})

    question.refresh_from_db()
    assert (question.text, question.choices) == ("Which do you read most?", ["Print", "Online", "Both"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    refused = client.post(urls["edit"], {"kind": "choice", "text": "Changed", "choices": "A\nB"})
    assert "Screener questions cannot change once the campaign has started" in html.unescape(refused.text)
    deleted = client.post(urls["delete"], follow=True)
    assert "Screener questions cannot change once the campaign has started" in html.unescape(deleted.text)
    added = _add(client, campaign, kind="age_band", text="", choices="")
    assert "Screener questions cannot change once the campaign has started" in html.unescape(added.text)
    assert list(ScreenerQuestion.objects.values_list("text", flat=True)) == ["Which do you read most?"]
    page = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).text
    assert "Add a screener question" not in page
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DRAFT)
    client.post(urls["delete"])
    assert not ScreenerQuestion.objects.exists()


@pytest.mark.django_db
def test_a_german_campaigns_fixed_kinds_start_in_german_and_a_copy_keeps_the_screener(client, personas):
    campaign = make_campaign(personas, language=Campaign.Language.GERMAN)
    assert client.login(username=personas.owner.username, password=PASSWORD)
    _add(client, campaign, kind="customer", text="", choices="")
    _add(client, campaign, kind="choice", text="Welche Ausgabe lesen Sie?", choices="Print\nOnline")
    german = campaign.screener_questions.get(kind="customer")
    # In the campaign's language, whatever the researcher's page speaks: its testers read it.
    with translation.override("de"):
        expected = (gettext("Are you already a customer?"), [gettext("Yes"), gettext("No")])
    assert (german.text, german.choices) == expected

    copy = campaign_duplicate(campaign=campaign, created_by=personas.owner)

    copied = [(q.position, q.kind, q.text, q.choices) for q in copy.screener_questions.order_by("position")]
    original = [(q.position, q.kind, q.text, q.choices) for q in campaign.screener_questions.order_by("position")]
    assert copied == original and len(copied) == 2
    assert set(copy.screener_questions.values_list("pk", flat=True)).isdisjoint(
        campaign.screener_questions.values_list("pk", flat=True)
    )
