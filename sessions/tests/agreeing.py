"""Agreeing on the start page the way a browser does: read the form, send it back."""

from __future__ import annotations

import re

from django.urls import reverse

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(consent_[a-z]+)" value="([^"]*)">')


def shown_consent(page_html: str) -> dict[str, str]:
    """The hidden fields of the start page's form that name the consent text it shows."""
    return dict(HIDDEN_INPUT.findall(page_html))


def agree(client, token: str):
    """GET the start page, then POST "I agree" with the form's hidden fields; the POST's response."""
    url = reverse("tester:start", kwargs={"token": token})
    fields = shown_consent(client.get(url).content.decode())
    return client.post(url, {"choice": "agree", **fields})
