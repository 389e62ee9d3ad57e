"""Create (or refresh) the demo: an organisation, a researcher, a running campaign with tester links,
and a closed campaign whose dashboard is filled (demo.services)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from campaigns import services
from campaigns.emails import invitation_link
from campaigns.models import Invitation, Membership, Organisation
from config.errors import ApplicationError
from demo.services import finished_campaign_ensure, live_campaign_ensure
from inference.services import model_version_ensure_default

DEMO_USERNAME = "researcher"
DEMO_PASSWORD = "mimik-demo-2026"  # noqa: S105 - a documented demo account for local use only


@contextmanager
def _quiet(logger_name: str):
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    help = (
        "Creates a demo researcher and organisation, a running campaign with tester links and a closed "
        "campaign with results. Running it again adds nothing but fresh tester links."
    )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        # The model and its shipped calibration, as the migrations leave them (and a worker makes sure).
        model_version_ensure_default()
        with transaction.atomic():
            organisation, _ = Organisation.objects.get_or_create(name="Demo Verlag")
            user_model = get_user_model()
            user = user_model.objects.filter(username=DEMO_USERNAME).first()
            if user is None:
                user = user_model.objects.create_user(DEMO_USERNAME, "researcher@example.com", DEMO_PASSWORD)
            Membership.objects.get_or_create(user=user, defaults={"organisation": organisation})
            live = live_campaign_ensure(organisation=organisation, user=user)
        with _quiet("celery.app.trace"):  # without a broker, one line per snapshot analysed
            finished, made = finished_campaign_ensure(organisation=organisation, user=user)
        if made:
            self.stdout.write(f"Demo campaign with results made in {time.monotonic() - started:.1f} s.")
        with transaction.atomic():
            links = self._tester_links(live)
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Log in at {settings.SITE_URL}/accounts/login/ as {DEMO_USERNAME} / {DEMO_PASSWORD}")
        dashboard = reverse("dashboard:campaign", kwargs={"campaign_id": finished.pk})
        self.stdout.write(f"  Results of a finished demo campaign: {settings.SITE_URL}{dashboard}")
        self.stdout.write("  Tester links of the running demo campaign (each opens the consent page):")
        for line in links:
            self.stdout.write(f"    {line}")

    def _tester_links(self, campaign) -> list[str]:
        emails = [f"tester{number}@example.com" for number in range(1, 4)]
        services.invitations_create(campaign=campaign, addresses=emails, send=False)
        lines = []
        for invitation in Invitation.objects.filter(campaign=campaign, email__in=emails).order_by("email"):
            try:
                # Only token hashes are stored, so printing a link means issuing a fresh token.
                token = services.invitation_resend(invitation=invitation, send=False)
            except ApplicationError as error:
                lines.append(f"{invitation.email}: {error.message}")
                continue
            lines.append(invitation_link(token))
        return lines
