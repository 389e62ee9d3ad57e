"""Taking part the way a browser does: agree on the start page (read the form, send it back),
watch the current variant, answer its survey."""

from __future__ import annotations

import re

from django.urls import reverse

from campaigns.tokens import hash_token
from sessions.models import Tester as StudyTester  # aliased: pytest collects names starting with "Test"

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(consent_[a-z]+)" value="([^"]*)">')


def shown_consent(page_html: str) -> dict[str, str]:
    """The hidden fields of the start page's form that name the consent text it shows."""
    return dict(HIDDEN_INPUT.findall(page_html))


def agree(client, token: str):
    """GET the start page, then POST "I agree" with the form's hidden fields; the POST's response."""
    url = reverse("tester:start", kwargs={"token": token})
    fields = shown_consent(client.get(url).content.decode())
    return client.post(url, {"choice": "agree", **fields})


def consent(client, token: str) -> StudyTester:
    response = agree(client, token)
    assert response.status_code == 302
    return StudyTester.objects.get(token_hash=hash_token(token))


def watch_and_answer(client, token: str, rating: int, text: str = "") -> None:
    client.post(reverse("tester:watch", kwargs={"token": token}), {"variant": current_variant(token)})
    question_ids = StudyTester.objects.get(token_hash=hash_token(token)).campaign.questions.values_list("pk", flat=True)
    scale_id, text_id = list(question_ids)
    response = client.post(
        reverse("tester:survey", kwargs={"token": token}),
        {f"question_{scale_id}": rating, f"question_{text_id}": text},
    )
    assert response.status_code == 302


def current_variant(token: str) -> str:
    tester = StudyTester.objects.get(token_hash=hash_token(token))
    return tester.variant_order[tester.viewed_count]


def stored_tester(token: str) -> StudyTester:
    return StudyTester.objects.get(token_hash=hash_token(token))
