"""Access, tokens, deploy settings and security headers.

The URL walk enumerates every route Django knows, so a route added later is walked too (and must
be classified here if it is public)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from campaigns.models import Invitation, Marker, Organisation
from campaigns.tests.conftest import make_researcher
from conftest import ROOT
from inference.services import model_version_ensure_default
from reports.models import ReportLink
from reports.services import report_link_create
from sessions import services as tester_services
from sessions.access import FAILED_LOOKUPS_PER_MINUTE
from sessions.models import Frame, SurveyAnswer
from tests.support.study import make_study

# Routes anyone may open: they show no campaign's data.
PUBLIC = {
    "",
    "healthz",
    "api/schema/",
    "api/docs/",
    "campaigns/",  # the visitor's own (empty) list, or the login redirect
    "campaigns/new/",
    "favicon.ico",
}
PUBLIC_PREFIXES = ("i18n/", "accounts/", "admin/")  # login, password reset; admin needs staff
# Routes every signed-in researcher may open, whatever their organisation: they show no campaign's
# data (model cards: models are shared by all organisations).
FOR_EVERY_RESEARCHER_SUFFIXES = ("models/<int:model_version_id>/card/",)


def walk(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += walk(pattern, route)
        else:
            routes.append((route, pattern))
    return routes


def fill(route: str, values: dict[str, str]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: values[match.group(1)], route).lstrip("^").rstrip("$")


@pytest.mark.django_db
def test_every_route_refuses_strangers_and_testers_of_another_campaign(client):
    victim = make_study(invitations=2, organisation_name="Victim Verlag")
    tester = tester_services.tester_consent(
        tester=tester_services.tester_create_for_invitation(invitation=victim.campaign.invitations.first())
    )
    frame = Frame.objects.create(
        campaign=victim.campaign, tester=tester, variant=victim.variants[0], sequence=0, media_time_ms=0
    )
    SurveyAnswer.objects.create(tester=tester, variant=victim.variants[0], question=victim.questions[0], rating=7)
    owner = make_researcher("victim-owner", victim.campaign.organisation)
    other = make_study(invitations=1, organisation_name="Other Agentur")
    other_tester = tester_services.tester_consent(
        tester=tester_services.tester_create_for_invitation(invitation=other.campaign.invitations.first())
    )
    outsider = make_researcher("outsider", other.campaign.organisation)
    secrets = [victim.campaign.name + " ", "tester0@example.com", str(tester.pk), victim.tokens[0]]
    Organisation.objects.filter(pk=other.campaign.organisation_id).update(name="Other Agentur")
    victim.campaign.name = "Victim campaign 7f3a"
    victim.campaign.save(update_fields=["name"])
    secrets[0] = victim.campaign.name
    report_link, report_token = report_link_create(campaign=victim.campaign, created_by=owner)
    secrets.append(report_token)
    values = {
        "campaign_id": str(victim.campaign.pk),
        "variant_id": str(victim.variants[0].pk),
        "question_id": str(victim.questions[0].pk),
        "invitation_id": str(victim.campaign.invitations.first().pk),
        "tester_id": str(tester.pk),
        "model_version_id": str(model_version_ensure_default().pk),
        "kind": "frames",
        "link_id": str(report_link.pk),
        "marker_id": str(Marker.objects.create(variant=victim.variants[0], at_ms=0).pk),
    }
    routes = [
        (route, pattern)
        for route, pattern in walk(get_resolver())
        if route not in PUBLIC and not route.startswith(PUBLIC_PREFIXES)
    ]
    assert len(routes) > 25, "the walk found too few routes"
    personas = {"anonymous": None, "researcher of another organisation": outsider, "tester of another campaign": None}
    walked = 0
    for persona, user in personas.items():
        client.logout()
        if user is not None:
            client.force_login(user)
        for route, _pattern in routes:
            token = other.tokens[0] if persona == "tester of another campaign" else "not-a-real-token"
            url = fill(route, {**values, "token": token})
            for method in ("get", "post"):
                cache_clear()
                response = getattr(client, method)(url)
                walked += 1
                body = b"".join(response.streaming_content) if response.streaming else response.content
                text = body.decode(errors="replace")
                leaked = [secret for secret in secrets if secret in text]
                assert not leaked, (persona, method, url, leaked)
                if "<str:token>" in route and persona == "tester of another campaign":
                    # Their own link: their own pages (or a redirect to their step), never the victim's.
                    assert response.status_code in {200, 204, 302, 400, 403, 404, 405, 409}, (persona, url)
                    continue
                if route.endswith(FOR_EVERY_RESEARCHER_SUFFIXES) and user is not None:
                    assert response.status_code in {200, 405}, (persona, method, url, response.status_code)
                    continue
                if response.status_code == 302:
                    assert response["Location"].startswith(reverse("login")), (persona, method, url)
                else:
                    assert response.status_code in {403, 404, 405}, (persona, method, url, response.status_code)
    # The victim's owner does reach the data the strangers could not (the walk can see data at all).
    client.force_login(owner)
    own = client.get(
        reverse("dashboard:tester_data", kwargs={"campaign_id": victim.campaign.pk, "tester_id": tester.pk})
    )
    assert own.status_code == 200 and own.json()["tester"] == str(tester.pk) and frame.sequence == 0
    report_link.refresh_from_db()
    assert report_link.revoked_at is None, "a stranger revoked the victim's report link"
    assert walked > 150 and other_tester.pk != tester.pk


@pytest.mark.django_db
def test_a_report_share_link_needs_no_login_and_shows_its_campaign_until_revoked_or_expired(client):
    study = make_study(invitations=1, name="Shared campaign 5d2e")
    other = make_study(invitations=1, organisation_name="Other Agentur", name="Other campaign 9c1b")
    owner = make_researcher("report-owner", study.campaign.organisation)
    revoked, revoked_token = report_link_create(campaign=study.campaign, created_by=owner)
    expiring, expiring_token = report_link_create(campaign=study.campaign, created_by=owner)
    report_link_create(campaign=other.campaign, created_by=None)

    for token in (revoked_token, expiring_token):
        page = client.get(f"/r/{token}/")
        assert page.status_code == 200 and "Shared campaign 5d2e" in page.content.decode()
        assert "Other campaign 9c1b" not in page.content.decode() and "Other Agentur" not in page.content.decode()
    client.force_login(owner)
    kwargs = {"campaign_id": study.campaign.pk, "link_id": revoked.pk}
    assert client.post(reverse("reports:link-revoke", kwargs=kwargs)).status_code == 302
    client.logout()
    ReportLink.objects.filter(pk=expiring.pk).update(expires_at=timezone.now())
    for token in (revoked_token, expiring_token):
        assert client.get(f"/r/{token}/").status_code == 404
        assert client.get(f"/r/{token}/report.pdf").status_code == 404


def cache_clear() -> None:
    """The guessing limit counts per address; the walk itself would trip it."""
    from django.core.cache import cache

    cache.clear()


@pytest.mark.django_db
def test_tokens_are_stored_as_hashes_only_cannot_be_enumerated_and_expire(client):
    study = make_study(invitations=2)
    token = study.tokens[0]
    tester_services.tester_create_for_invitation(invitation=Invitation.objects.order_by("created_at").first())
    with connection.cursor() as cursor:
        for table in ("campaigns_invitation", "tester_sessions_tester"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            assert token not in repr(cursor.fetchall()), table

    cache_clear()
    guesses = [client.post(f"/api/t/guess-{n}/frames/").status_code for n in range(FAILED_LOOKUPS_PER_MINUTE + 2)]
    assert guesses[:FAILED_LOOKUPS_PER_MINUTE] == [404] * FAILED_LOOKUPS_PER_MINUTE
    assert guesses[-1] == 429
    limited = client.post(f"/api/t/{token}/frames/")  # even a right token waits: no oracle for guessers
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert set(limited.json()) == {"message", "extra"}

    cache_clear()
    Invitation.objects.filter(token_hash__isnull=False).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.post(f"/api/t/{study.tokens[1]}/frames/")
    assert expired.status_code == 404 and expired.json()["extra"] == {"reason": "expired"}
    assert client.get(f"/t/{token}/").status_code == 404


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **{key: value for key, value in os.environ.items() if key not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}},
        "DEBUG": "0",
        "SECRET_KEY": "p" + os.urandom(32).hex() + "Q!x",
        "ALLOWED_HOSTS": "mimik.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "BEHIND_HTTPS_PROXY": "1",
        "SESSION_COOKIE_SECURE": "1",
        "CSRF_COOKIE_SECURE": "1",
        "SECURE_HSTS_PRELOAD": "1",  # the production environment's choice (README, Security)
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_security_headers_csp_without_inline_script_hsts_on_https_and_camera_for_our_origin_only(client):
    plain = client.get(reverse("login"))
    with override_settings(SECURE_HSTS_SECONDS=31536000):
        secure = client.get(reverse("login"), secure=True)
        insecure = client.get(reverse("login"))

    csp = dict(part.strip().split(" ", 1) for part in plain["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'" and "unsafe-inline" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert plain["Permissions-Policy"].startswith("camera=(self),") and "microphone=()" in plain["Permissions-Policy"]
    assert plain["Referrer-Policy"] == "same-origin"
    assert plain["X-Frame-Options"] == "DENY" and plain["X-Content-Type-Options"] == "nosniff"
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in insecure

    # The CSP forbids inline script, so no template may contain one (it would silently not run).
    inline = []
    for template in Path(ROOT, "templates").rglob("*.html"):
        text = template.read_text()
        inline += [
            f"{template.name}: <script> without src"
            for tag in re.findall(r"<script\b[^>]*>", text)
            if "src=" not in tag
        ]
        inline += [f"{template.name}: {handler}" for handler in re.findall(r"\son[a-z]+\s*=", text)]
        inline += [f"{template.name}: javascript: URL" for _ in re.findall(r"javascript:", text)]
    assert inline == []
