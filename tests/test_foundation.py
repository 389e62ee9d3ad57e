"""The skeleton: settings, health check, the served app."""

import os
import subprocess
import sys
import time

import pytest
from django.test import override_settings
from django.urls import reverse

from conftest import ROOT
from inference.models import ModelVersion


@pytest.mark.django_db
def test_healthz_is_ok_when_database_redis_and_model_are_ready(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["redis"]["detail"] == "ok"
    assert body["checks"]["model"]["ok"] is True


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", EMBEDDED_FALLBACK=False)
def test_healthz_names_redis_when_the_broker_does_not_answer(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response["Retry-After"]


@pytest.mark.django_db
def test_healthz_names_the_model_when_none_is_active(client):
    ModelVersion.objects.update(is_active=False)

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["failing"] == ["model"]


def test_app_refuses_to_start_without_secret_key_when_debug_is_off():
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env["DEBUG"] = "0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "export SECRET_KEY" in result.stderr


@pytest.mark.browser
def test_the_served_app_shows_the_login_page_in_chromium(asgi_server, browser):
    page = browser.new_page()
    page.goto(f"{asgi_server.url}/campaigns/")

    assert "/accounts/login/" in page.url
    assert page.get_by_role("button", name="Log in").is_visible()
    assert "script-src 'self'" in page.request.get(page.url).headers["content-security-policy"]


@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_takes_a_task_from_redis_and_its_effect_lands_in_postgresql(celery_worker):
    from django.contrib.auth import get_user_model

    from campaigns.models import Invitation, Organisation
    from campaigns.services import campaign_create, invitations_create

    organisation = Organisation.objects.create(name="Verlag")
    researcher = get_user_model().objects.create_user("owner", password="a-long-password-1")
    campaign = campaign_create(
        organisation=organisation, created_by=researcher, consent_text="Ich willige ein.", name="Herbst"
    )

    invitations_create(campaign=campaign, addresses=["reader@example.com"])  # queued on commit

    invitation = Invitation.objects.get(campaign=campaign)
    deadline = time.monotonic() + 30
    while invitation.sent_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        invitation.refresh_from_db()
    assert invitation.sent_at is not None, celery_worker.log()
    assert invitation.send_error == ""
    messages = list(celery_worker.mail_dir.iterdir())
    assert len(messages) == 1
    assert "reader@example.com" in messages[0].read_text()
