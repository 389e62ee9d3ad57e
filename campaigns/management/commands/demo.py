"""Create (or refresh) a demo organisation, researcher, campaign with two variants, and links."""

from __future__ import annotations

import io

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from campaigns import services
from campaigns.emails import invitation_link
from campaigns.media_validation import validate_variant_upload
from campaigns.models import Campaign, Invitation, Membership, Organisation, SurveyQuestion
from config.errors import ApplicationError

DEMO_USERNAME = "researcher"
DEMO_PASSWORD = "mimik-demo-2026"  # noqa: S105 - a documented demo account for local use only
DEMO_CONSENT = (
    "Während Sie die Varianten ansehen, nimmt die Seite in Abständen Standbilder Ihrer Kamera auf. "
    "Die Bilder werden automatisch ausgewertet und danach verworfen; gespeichert werden nur die "
    "Emotionswerte unter einer pseudonymen Kennung. Sie können Ihre Einwilligung jederzeit widerrufen."
)


def _poster(text: str, colour: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (1280, 720), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 80, 1200, 640), outline=(255, 255, 255), width=12)
    draw.text((140, 320), text, fill=(255, 255, 255), font_size=96)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Creates a demo researcher, organisation and campaign with two variants and invitation links."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        organisation, _ = Organisation.objects.get_or_create(name="Demo Verlag")
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = user_model.objects.create_user(DEMO_USERNAME, "researcher@example.com", DEMO_PASSWORD)
        Membership.objects.get_or_create(user=user, defaults={"organisation": organisation})
        campaign = Campaign.objects.filter(organisation=organisation, name="Herbstkampagne (Demo)").first()
        if campaign is None:
            campaign = self._create_campaign(organisation, user)
        emails = [f"tester{number}@example.com" for number in range(1, 4)]
        services.invitations_create(campaign=campaign, addresses=emails, send=False)
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Log in at {settings.SITE_URL}/accounts/login/ as {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write("  Tester links (each opens the consent page):")
        for invitation in Invitation.objects.filter(campaign=campaign, email__in=emails):
            try:
                # Only token hashes are stored, so printing a link means issuing a fresh token.
                token = services.invitation_resend(invitation=invitation, send=False)
            except ApplicationError as error:
                self.stdout.write(f"    {invitation.email}: {error.message}")
                continue
            self.stdout.write(f"    {invitation_link(token)}")

    def _create_campaign(self, organisation: Organisation, user) -> Campaign:
        campaign = services.campaign_create(
            organisation=organisation,
            created_by=user,
            consent_text=DEMO_CONSENT,
            name="Herbstkampagne (Demo)",
            description="Zwei Anzeigenmotive für den Herbstkatalog.",
            image_display_seconds=8,
        )
        for position, (label, colour) in enumerate([("A: Leseglück", (31, 95, 191)), ("B: Bestseller", (179, 38, 30))]):
            upload = SimpleUploadedFile(f"demo-{position}.png", _poster(label, colour), content_type="image/png")
            services.variant_add(campaign=campaign, label=label, media=validate_variant_upload(upload))
        services.question_add(
            campaign=campaign,
            kind=SurveyQuestion.Kind.SCALE,
            text="Wie gut gefällt Ihnen diese Anzeige?",
            min_label="gar nicht",
            max_label="sehr gut",
        )
        services.question_add(
            campaign=campaign, kind=SurveyQuestion.Kind.TEXT, text="Möchten Sie etwas anmerken?", required=False
        )
        return services.campaign_start(campaign=campaign)
