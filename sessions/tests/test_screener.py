"""The screener through Django's test client: after consent and before the camera check and the
first advertisement, every question answered, in the tester's data file, gone on withdrawal."""

from __future__ import annotations

import html
import json

import pytest
from django.urls import reverse

from campaigns.models import ScreenerQuestion
from campaigns.tokens import hash_token
from sessions.models import ScreenerAnswer
from sessions.models import Tester as StudyTester
from sessions.tests.agreeing import agree
from tests.support.study import make_study


def url(name: str, token: str) -> str:
    return reverse(f"tester:{name}", kwargs={"token": token})


def screened_study(invitations: int = 1):
    study = make_study(invitations=invitations)
    age = ScreenerQuestion.objects.create(
        campaign=study.campaign, position=0, kind="age_band", text="How old are you?", choices=["18-29", "30-44"]
    )
    gender = ScreenerQuestion.objects.create(
        campaign=study.campaign,
        position=1,
        kind="gender",
        text="What is your gender?",
        choices=["Female", "Male", "Diverse", "Prefer not to say"],
    )
    return study, age, gender


@pytest.mark.django_db
def test_the_tester_answers_every_screener_question_before_the_camera_and_the_first_advertisement(client):
    study, age, gender = screened_study()
    token = study.tokens[0]
    assert "First, you answer a few short questions about yourself." in client.get(url("start", token)).text

    agreed = agree(client, token)

    assert agreed.status_code == 302 and agreed.url == url("screener", token)
    # Neither the camera check nor an advertisement before the screener is done.
    for page in ("camera", "watch", "survey"):
        assert client.get(url(page, token)).url == url("screener", token)
    assert client.post(url("camera", token), {"camera": "denied"}).url == url("screener", token)
    tester = StudyTester.objects.get(token_hash=hash_token(token))
    assert tester.camera == StudyTester.Camera.UNKNOWN
    page = html.unescape(client.get(url("screener", token)).text)
    assert "How old are you?" in page and "Prefer not to say" in page

    half = client.post(url("screener", token), {f"screener_{age.pk}": "30-44"})
    made_up = client.post(
        url("screener", token), {f"screener_{age.pk}": "90+", f"screener_{gender.pk}": "Prefer not to say"}
    )

    assert half.status_code == 200 and "This field is required." in half.text
    assert made_up.status_code == 200 and "Select a valid choice." in made_up.text
    assert not ScreenerAnswer.objects.exists()
    done = client.post(
        url("screener", token), {f"screener_{age.pk}": "30-44", f"screener_{gender.pk}": "Prefer not to say"}
    )
    assert done.url == url("camera", token)
    answers = dict(ScreenerAnswer.objects.filter(tester=tester).values_list("question__text", "choice"))
    assert answers == {"How old are you?": "30-44", "What is your gender?": "Prefer not to say"}
    # Answered once: the screener page now sends the tester on, and the camera check is open.
    assert client.get(url("screener", token)).url == url("camera", token)
    assert client.get(url("camera", token)).status_code == 200
    client.post(url("camera", token), {"camera": "denied"})
    assert client.get(url("watch", token)).status_code == 200


@pytest.mark.django_db
def test_without_screener_questions_consent_leads_straight_to_the_camera(client):
    study = make_study(invitations=1)
    token = study.tokens[0]
    assert "questions about yourself" not in client.get(url("start", token)).text

    agreed = agree(client, token)

    assert agreed.url == url("camera", token)
    assert client.get(url("screener", token)).url == url("camera", token)


@pytest.mark.django_db
def test_the_data_file_lists_the_answers_and_withdrawal_deletes_them(client):
    study, age, gender = screened_study(invitations=2)
    for token, choice in zip(study.tokens, ("18-29", "30-44"), strict=True):
        agree(client, token)
        client.post(url("screener", token), {f"screener_{age.pk}": choice, f"screener_{gender.pk}": "Female"})
    leaving, staying = study.tokens

    data = json.loads(client.get(url("my_data", leaving)).content)

    assert [(row["question"], row["choice"]) for row in data["screener_answers"]] == [
        ("How old are you?", "18-29"),
        ("What is your gender?", "Female"),
    ]
    client.post(url("withdraw", leaving))
    assert list(ScreenerAnswer.objects.values_list("tester__token_hash", "choice").order_by("choice")) == [
        (hash_token(staying), "30-44"),
        (hash_token(staying), "Female"),
    ]
