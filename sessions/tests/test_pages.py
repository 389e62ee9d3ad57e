"""The tester's pages through Django's test client: consent, order, survey, closed links, withdrawal."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Invitation
from campaigns.tokens import hash_token
from sessions.access import FAILED_LOOKUPS_PER_MINUTE
from sessions.models import SurveyAnswer
from sessions.models import Tester as StudyTester
from sessions.services import williams_rows
from sessions.tests.agreeing import consent, watch_and_answer
from tests.support.study import CONSENT_TEXT, make_study


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_williams_rows_balance_positions_and_neighbours(count):
    rows = williams_rows(count)

    for position in range(count):
        assert Counter(row[position] for row in rows) == {item: len(rows) // count for item in range(count)}
    follows = Counter(pair for row in rows for pair in itertools.pairwise(row))
    assert set(follows.values()) == {len(rows) * (count - 1) // (count * (count - 1))}
    assert len(follows) == count * (count - 1)


@pytest.mark.django_db
def test_start_page_explains_and_consent_fixes_opposite_orders(client):
    study = make_study(invitations=3)

    page = client.get(reverse("tester:start", kwargs={"token": study.tokens[0]}))

    text = page.content.decode()
    assert page.status_code == 200
    assert CONSENT_TEXT in text and "An older consent text" not in text
    assert "No video is recorded or stored." in text
    assert "analysed for facial expressions and then discarded" in text
    assert Invitation.objects.filter(opened_at__isnull=False).count() == 1
    first, second, third = (consent(client, token) for token in study.tokens)
    ids = [str(variant.pk) for variant in study.variants]
    assert first.variant_order == ids
    assert second.variant_order == ids[::-1]
    assert third.variant_order == ids
    assert first.consent_version.text == CONSENT_TEXT and first.consented_at is not None
    assert first.invitation.email == "tester0@example.com"


@pytest.mark.django_db
def test_random_mode_shuffles_and_a_three_variant_campaign_uses_the_latin_square(client):
    study = make_study(variants=3, invitations=6)

    orders = [tuple(consent(client, token).variant_order) for token in study.tokens]

    assert len(set(orders)) == 6  # the six rows of the odd-size Williams design
    study.campaign.order_mode = Campaign.OrderMode.RANDOM
    study.campaign.save(update_fields=["order_mode"])
    shuffled = consent(client, study.invite("late@example.com")).variant_order
    assert sorted(shuffled) == sorted(str(variant.pk) for variant in study.variants)


@pytest.mark.django_db
def test_decline_records_the_decline_only_and_stays_declined(client):
    study = make_study(invitations=1)
    url = reverse("tester:start", kwargs={"token": study.tokens[0]})

    response = client.post(url, {"choice": "decline"})

    assert "You chose not to take part" in response.content.decode()
    tester = StudyTester.objects.get()
    assert tester.declined_at is not None
    assert (tester.consented_at, tester.consent_version, tester.variant_order) == (None, None, [])
    assert "You chose not to take part" in client.get(url).content.decode()
    camera = client.get(reverse("tester:camera", kwargs={"token": study.tokens[0]}))
    assert "You chose not to take part" in camera.content.decode()


@pytest.mark.django_db
def test_expired_revoked_unknown_completed_and_closed_links_get_clear_pages(client):
    study = make_study(invitations=0)
    expired = study.invite("old@example.com", expires_in=timedelta(days=-1))
    revoked = study.invite("revoked@example.com")
    Invitation.objects.filter(email="revoked@example.com").update(revoked_at=timezone.now())
    done = study.invite("done@example.com")
    consent(client, done)
    client.post(reverse("tester:camera", kwargs={"token": done}), {"camera": "denied"})
    watch_and_answer(client, done, 6, "blue")
    watch_and_answer(client, done, 2)

    def page(token: str):
        return client.get(reverse("tester:start", kwargs={"token": token}), follow=True)

    assert page(expired).status_code == 404 and "This link has expired." in page(expired).content.decode()
    assert "withdrawn by the research team" in page(revoked).content.decode()
    assert "This link is not valid." in page("not-a-token").content.decode()
    assert "You have completed the study." in page(done).content.decode()
    assert StudyTester.objects.filter(invitation__email__in=["old@example.com", "revoked@example.com"]).count() == 0
    study.campaign.status = Campaign.Status.CLOSED
    study.campaign.save(update_fields=["status"])
    late = study.invite("late@example.com")
    consent(client, late)
    assert "This study is not open at the moment" in page(late).content.decode()


@pytest.mark.django_db
def test_survey_validates_ranges_then_stores_answers_and_completes(client):
    study = make_study(invitations=1)
    token = study.tokens[0]
    tester = consent(client, token)
    client.post(reverse("tester:camera", kwargs={"token": token}), {"camera": "denied"})
    assert client.get(reverse("tester:survey", kwargs={"token": token})).url.endswith("/watch/")
    client.post(reverse("tester:watch", kwargs={"token": token}), {"variant": tester.variant_order[0]})
    scale, text = study.questions

    wrong = client.post(reverse("tester:survey", kwargs={"token": token}), {f"question_{scale.pk}": 9})

    assert wrong.status_code == 200 and "Select a valid choice" in wrong.content.decode()
    assert SurveyAnswer.objects.count() == 0
    client.post(
        reverse("tester:survey", kwargs={"token": token}),
        {f"question_{scale.pk}": 7, f"question_{text.pk}": "the blue one"},
    )
    watch_and_answer(client, token, 3)
    answers = {(a.variant_id.hex, a.question_id): (a.rating, a.comment) for a in SurveyAnswer.objects.all()}
    first, second = (variant_id.replace("-", "") for variant_id in tester.variant_order)
    assert answers == {
        (first, scale.pk): (7, ""),
        (first, text.pk): (None, "the blue one"),
        (second, scale.pk): (3, ""),
    }
    tester.refresh_from_db()
    assert tester.completed_at is not None and tester.camera == StudyTester.Camera.DENIED


@pytest.mark.django_db
def test_variant_files_reach_only_consenting_testers_of_their_campaign(client):
    study = make_study(invitations=1)
    outsider_study = make_study(invitations=1, organisation_name="Other")
    token = study.tokens[0]
    url = reverse("tester:media", kwargs={"token": token, "variant_id": study.variants[0].pk})

    assert client.get(url).status_code == 404  # before consent
    consent(client, token)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    consent(client, outsider_study.tokens[0])
    foreign = reverse("tester:media", kwargs={"token": outsider_study.tokens[0], "variant_id": study.variants[0].pk})
    assert client.get(foreign).status_code == 404


@pytest.mark.django_db
def test_open_link_makes_one_tester_per_browser_up_to_the_quota(client):
    from django.test import Client

    study = make_study(invitations=0)
    study.campaign.open_link_token_hash = hash_token("open-sesame")
    study.campaign.open_link_quota = 1
    study.campaign.save(update_fields=["open_link_token_hash", "open_link_quota"])
    url = reverse("tester:open", kwargs={"token": "open-sesame"})

    first = client.get(url)
    again = client.get(url)

    assert first.status_code == 302 and first.url == again.url
    assert StudyTester.objects.filter(campaign=study.campaign, invitation=None).count() == 1
    assert client.get(first.url).status_code == 200
    full = Client().get(url)
    assert full.status_code == 410 and "all the participants it needs" in full.content.decode()


@pytest.mark.django_db
def test_guessing_tokens_is_slowed_down(client):
    address = "203.0.113.77"  # the counters live in Redis under the caller's address
    statuses = []
    for number in range(2 * FAILED_LOOKUPS_PER_MINUTE + 1):
        response = client.get(reverse("tester:start", kwargs={"token": f"guess-{number}"}), REMOTE_ADDR=address)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break

    assert statuses[0] == 404 and statuses[-1] == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many attempts" in response.content.decode()
