"""The German translation: pages speak German when asked to, and the catalog has no gaps.

Regenerate the catalog after changing strings:
  DEBUG=1 python manage.py makemessages -l de --ignore=.venv --ignore=ml/runs --ignore=var --no-obsolete
then translate, and  DEBUG=1 python manage.py compilemessages -l de --ignore=.venv  (the .mo is committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from campaigns.models import Campaign
from tests.support.study import make_study

PO_FILE = Path(__file__).resolve().parent.parent / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    # The tester pages activate the campaign's language; keep that from leaking into other tests.
    with translation.override(settings.LANGUAGE_CODE):
        yield


def _page(client: Client, url: str, **headers: str) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Rendered pages -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_english_by_default(client: Client) -> None:
    html = _page(client, reverse("login"))
    assert '<html lang="en">' in html
    assert "Forgot your password?" in html
    assert "Passwort vergessen?" not in html


@pytest.mark.django_db
def test_login_page_is_german_for_accept_language_de(client: Client) -> None:
    html = _page(client, reverse("login"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in html
    assert "Passwort vergessen?" in html
    assert "Anmelden" in html
    assert "Forgot your password?" not in html


@pytest.mark.django_db
def test_login_page_is_german_with_the_language_cookie(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    html = _page(client, reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Passwort vergessen?" in html
    assert "Forgot your password?" not in html


@pytest.mark.django_db
def test_language_switch_sets_the_cookie_and_the_next_page_is_german(client: Client) -> None:
    response = client.post(reverse("set_language"), {"language": "de", "next": reverse("login")})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert "Passwort vergessen?" in _page(client, reverse("login"))


@pytest.mark.django_db
def test_tester_start_page_of_an_english_campaign_is_english(client: Client) -> None:
    study = make_study(invitations=1)
    html = _page(client, reverse("tester:start", kwargs={"token": study.tokens[0]}))
    assert "Welcome to the study “Spring posters”" in html
    assert "I agree, start the study" in html
    assert "Willkommen" not in html


@pytest.mark.django_db
def test_tester_start_page_of_a_german_campaign_is_german(client: Client) -> None:
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(language=Campaign.Language.GERMAN)
    html = _page(client, reverse("tester:start", kwargs={"token": study.tokens[0]}), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="de">' in html
    assert "Willkommen zur Studie „Spring posters“" in html
    assert "Sie sehen sich 2 Anzeigen nacheinander an." in html  # plural form
    assert "Ich willige ein, Studie beginnen" in html
    assert "Einwilligung" in html
    assert "Welcome to the study" not in html


@pytest.mark.django_db
def test_tester_start_page_follows_the_language_cookie_over_the_campaign_language(client: Client) -> None:
    study = make_study(invitations=1)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    html = _page(client, reverse("tester:start", kwargs={"token": study.tokens[0]}))
    assert "Willkommen zur Studie „Spring posters“" in html
    assert "Welcome to the study" not in html


@pytest.mark.django_db
def test_tester_start_page_speaks_the_campaign_language_not_the_browser_language(client: Client) -> None:
    # By design (sessions.views.tester_page): without the cookie the campaign's language wins,
    # so an English campaign stays English even for a browser that prefers German.
    study = make_study(invitations=1)
    html = _page(client, reverse("tester:start", kwargs={"token": study.tokens[0]}), HTTP_ACCEPT_LANGUAGE="de")
    assert "Welcome to the study" in html


# --- The catalog --------------------------------------------------------------------------------


def _unquote(lines: list[str]) -> str:
    return "".join(
        bytes(line[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8") for line in lines
    )


def _entries(text: str) -> list[dict]:
    """A small reader for the .po format: each entry's flags, msgid and msgstr(s), obsolete ones skipped."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if any(line.startswith("#~") for line in lines) or not any(line.startswith("msgid") for line in lines):
            continue
        entry: dict = {"flags": set(), "fields": {}}
        current = None
        for line in lines:
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry["fields"][current].append(line)
            else:
                current, _, rest = line.partition(" ")
                entry["fields"][current] = [rest]
        fields = {key: _unquote(value) for key, value in entry["fields"].items()}
        entries.append({"flags": entry["flags"], **fields})
    return entries


def test_catalog_is_complete_and_nothing_is_fuzzy() -> None:
    entries = _entries(PO_FILE.read_text(encoding="utf-8"))
    header = next(entry for entry in entries if entry.get("msgid") == "")
    assert "fuzzy" not in header["flags"], "the catalog header is marked fuzzy"
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header["msgstr"]
    messages = [entry for entry in entries if entry.get("msgid")]
    assert len(messages) > 100
    untranslated = [
        entry["msgid"]
        for entry in messages
        if not any(value.strip() for key, value in entry.items() if key.startswith("msgstr"))
        or ("msgid_plural" in entry and not (entry.get("msgstr[0]") and entry.get("msgstr[1]")))
    ]
    fuzzy = [entry["msgid"] for entry in messages if "fuzzy" in entry["flags"]]
    problems = [f"untranslated: {msgid!r}" for msgid in untranslated] + [f"fuzzy: {msgid!r}" for msgid in fuzzy]
    assert not problems, "translate these in locale/de/LC_MESSAGES/django.po (then compilemessages):\n" + "\n".join(
        problems
    )


def test_placeholders_survive_translation() -> None:
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}|</?[a-z]+[^>]*>")
    wrong = []
    for entry in _entries(PO_FILE.read_text(encoding="utf-8")):
        if not entry.get("msgid"):
            continue
        expected = sorted(set(placeholder.findall(entry["msgid"] + entry.get("msgid_plural", ""))))
        for key, value in entry.items():
            if not key.startswith("msgstr"):
                continue
            found = sorted(set(placeholder.findall(value)))
            # A singular may leave out the count ("%(days)s day" -> "ein Tag") but never invent one.
            singular_ok = key == "msgstr[0]" and set(found) <= set(expected)
            if value and found != expected and not singular_ok:
                wrong.append(f"{entry['msgid']!r} -> {value!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_compiled_catalog_is_not_older_than_the_po_file() -> None:
    """The .mo is committed; a stale one means someone forgot compilemessages."""
    from django.utils.translation import gettext

    assert MO_FILE.exists(), "run compilemessages: locale/de/LC_MESSAGES/django.mo is missing"
    entries = [entry for entry in _entries(PO_FILE.read_text(encoding="utf-8")) if entry.get("msgid")]
    with translation.override("de"):
        stale = [
            entry["msgid"]
            for entry in entries
            if "msgid_plural" not in entry and "msgctxt" not in entry and gettext(entry["msgid"]) != entry["msgstr"]
        ]
    assert not stale, "django.mo does not match django.po; run compilemessages:\n" + "\n".join(stale[:20])
