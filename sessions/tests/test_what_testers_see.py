"""What a tester reads on their pages: the study's public title (never the researchers' own name),
no way into the researchers' side, exactly the survey the researcher set up, a way back from a
decline made by mistake, and a video's poster through the tester's own link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Invitation, SurveyQuestion, Variant
from campaigns.tokens import hash_token
from config.celery import app
from sessions.models import SurveyAnswer
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree
from sessions.tests.test_upload_api import upload
from tests.support.study import make_study, poster_png

INTERNAL_NAME = "ACME Q3 cheap-slogan hypothesis"


def url(name: str, token: str, **kwargs) -> str:
    return reverse(f"tester:{name}", kwargs={"token": token, **kwargs})


def html(response) -> str:
    assert response.status_code in {200, 409}, response.status_code
    return response.content.decode()


def title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1).strip()


def study_tester(token: str) -> StudyTester:
    return StudyTester.objects.get(token_hash=hash_token(token))


def to_survey(client, token: str) -> None:
    client.post(url("camera", token), {"camera": "denied"})
    client.post(url("watch", token), {"variant": study_tester(token).variant_order[0]})


# --- The study's name -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_tester_page_says_the_public_title_or_a_neutral_one_never_the_internal_name(client):
    study = make_study(invitations=3, name=INTERNAL_NAME, public_title="")
    token, declining, withdrawing = study.tokens
    pages = {"start": html(client.get(url("start", token)))}
    agree(client, token)
    pages["camera"] = html(client.get(url("camera", token)))
    client.post(url("camera", token), {"camera": "denied"})
    pages["watch"] = html(client.get(url("watch", token)))
    client.post(url("watch", token), {"variant": study_tester(token).variant_order[0]})
    pages["survey"] = html(client.get(url("survey", token)))
    pages["declined"] = html(client.post(url("start", declining), {"choice": "decline"}))
    pages["withdraw"] = html(client.get(url("withdraw", withdrawing)))
    pages["withdrawn"] = html(client.post(url("withdraw", withdrawing)))
    Campaign.objects.filter(pk=study.campaign.pk).update(status=Campaign.Status.CLOSED)
    pages["closed"] = html(client.get(url("camera", token)))
    data = client.get(url("my_data", token)).json()

    for name, page in pages.items():
        assert INTERNAL_NAME not in page, name
        assert title(page) == "Advertising study", name
        # The tester's header leads nowhere, least of all to the researchers' login.
        assert 'href="/"' not in page and "/accounts/login" not in page and "/campaigns/" not in page, name
    assert "Welcome to this advertising study" in pages["start"]
    assert data["campaign"] == "Advertising study" and INTERNAL_NAME not in str(data)

    Campaign.objects.filter(pk=study.campaign.pk).update(public_title="Your view on spring posters")
    other = study.invite("late@example.com")
    start = html(client.get(url("start", other)))
    assert title(start) == "Your view on spring posters"
    assert "Welcome to the study “Your view on spring posters”" in start and INTERNAL_NAME not in start


# --- The survey -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_survey_asks_the_researchers_questions_only_and_marks_the_optional_ones(client):
    study = make_study(invitations=1)
    scale, text = study.questions
    unlabelled = SurveyQuestion.objects.create(
        campaign=study.campaign, position=2, text="How likely would you buy it?", scale_min=1, scale_max=7
    )
    token = study.tokens[0]
    agree(client, token)
    to_survey(client, token)

    page = html(client.get(url("survey", token)))

    legends = re.findall(r"<legend>(.*?)</legend>", page, re.S)
    assert [re.sub(r"<[^>]+>", "", legend).strip() for legend in legends] == [
        "How much do you like this poster?",
        "What do you remember? (optional)",
        "How likely would you buy it?",
    ]
    assert "Anything else" not in page and 'name="comment"' not in page
    assert page.count('<span class="end">') == 2  # the labelled scale's two ends; the other shows numbers only
    for value in range(1, 8):
        assert f'name="question_{unlabelled.pk}" value="{value}"' in page

    # A stray "comment" (an old form, a script) is not stored under any question.
    answer = {f"question_{scale.pk}": 5, f"question_{unlabelled.pk}": 2, "comment": "sneaked in"}
    assert client.post(url("survey", token), answer).status_code == 302
    assert sorted(SurveyAnswer.objects.values_list("question_id", "rating", "comment")) == sorted(
        [(scale.pk, 5, ""), (unlabelled.pk, 2, "")]
    )
    assert text.pk not in SurveyAnswer.objects.values_list("question_id", flat=True)


@pytest.mark.django_db
def test_a_campaign_without_questions_goes_from_one_advertisement_to_the_next(client):
    study = make_study(invitations=1)
    SurveyQuestion.objects.filter(campaign=study.campaign).delete()
    token = study.tokens[0]
    agree(client, token)
    client.post(url("camera", token), {"camera": "denied"})
    first, second = study_tester(token).variant_order

    after_first = client.post(url("watch", token), {"variant": first}, follow=True)

    assert after_first.redirect_chain[-1][0] == url("watch", token)
    assert html(after_first).count("Advertisement 2 of 2") == 1
    client.post(url("watch", token), {"variant": second})
    assert "You have completed the study." in html(client.get(url("start", token), follow=True))
    assert study_tester(token).completed_at is not None and not SurveyAnswer.objects.exists()


# --- Declining by mistake -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_tester_who_declined_by_mistake_changes_their_mind_and_takes_part(client):
    app.control.purge()
    study = make_study(invitations=2)
    token, expiring = study.tokens
    declined = html(client.post(url("start", token), {"choice": "decline"}))
    assert f'action="{url("reconsider", token)}"' in declined and "I changed my mind" in declined
    variant = study.variants[0]
    assert upload(client, token, variant, sequence=0).status_code == 403  # refused while declined

    back = client.post(url("reconsider", token))

    assert back.status_code == 302 and back.url == url("start", token)
    start = html(client.get(back.url))
    assert "I agree, start the study" in start and "You chose not to take part" not in start
    assert agree(client, token).url == url("camera", token)
    tester = study_tester(token)
    assert tester.declined_at is None and tester.consented_at is not None and len(tester.variant_order) == 2
    assert upload(client, token, variant, sequence=0).status_code == 204  # the very next upload counts
    # Changing one's mind is for a tester who declined: a consenting tester's consent stays as it is.
    assert client.post(url("reconsider", token)).url == url("camera", token)
    assert study_tester(token).consented_at == tester.consented_at

    # Only while the link is valid: an expired invitation stays declined.
    client.post(url("start", expiring), {"choice": "decline"})
    Invitation.objects.filter(token_hash=hash_token(expiring)).update(expires_at=timezone.now() - timedelta(1))
    refused = client.post(url("reconsider", expiring))
    assert refused.status_code == 404 and "This link has expired." in refused.content.decode()
    assert study_tester(expiring).declined_at is not None
    assert client.get(url("reconsider", expiring)).status_code == 405
    app.control.purge()


# --- A video's poster -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_videos_poster_shows_in_the_player_through_the_testers_own_link(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    study = make_study(invitations=1)
    other = make_study(invitations=1, organisation_name="Other")
    still = poster_png((10, 20, 30))
    for variant in study.variants:
        variant.kind, variant.content_type = Variant.Kind.VIDEO, "video/webm"
        variant.poster.save("still.png", ContentFile(still), save=False)
        variant.save()
    token = study.tokens[0]
    variant = study.variants[0]
    poster = url("poster", token, variant_id=variant.pk)

    assert client.get(poster).status_code == 404  # before consent, like the video itself
    agree(client, token)
    client.post(url("camera", token), {"camera": "denied"})
    watch = html(client.get(url("watch", token)))
    shown = study_tester(token).variant_order[0]
    assert f'data-poster="{url("poster", token, variant_id=shown)}"' in watch
    response = client.get(poster)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == still
    agree(client, other.tokens[0])
    assert client.get(url("poster", other.tokens[0], variant_id=variant.pk)).status_code == 404

    Variant.objects.filter(campaign=study.campaign).update(poster="")
    assert client.get(poster).status_code == 404
    assert 'data-poster=""' in html(client.get(url("watch", token)))
