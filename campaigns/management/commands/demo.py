"""Create (or refresh) a demo organisation, researcher, campaign with two variants, and links."""

from __future__ import annotations

import io
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from campaigns.models import Campaign, ConsentVersion, Invitation, Membership, Organisation, SurveyQuestion, Variant
from campaigns.tokens import new_token

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
            campaign = Campaign.objects.create(
                organisation=organisation,
                name="Herbstkampagne (Demo)",
                description="Zwei Anzeigenmotive für den Herbstkatalog.",
                created_by=user,
                image_display_seconds=8,
            )
            ConsentVersion.objects.create(campaign=campaign, version=1, text=DEMO_CONSENT)
            for position, (label, colour) in enumerate(
                [("A: Leseglück", (31, 95, 191)), ("B: Bestseller", (179, 38, 30))]
            ):
                variant = Variant(
                    campaign=campaign,
                    label=label,
                    kind=Variant.Kind.IMAGE,
                    content_type="image/png",
                    width=1280,
                    height=720,
                    position=position,
                )
                variant.file.save(f"demo-{position}.png", ContentFile(_poster(label, colour)), save=False)
                variant.save()
            SurveyQuestion.objects.create(
                campaign=campaign,
                text="Wie gut gefällt Ihnen diese Anzeige?",
                min_label="gar nicht",
                max_label="sehr gut",
            )
            campaign.status = Campaign.Status.RUNNING
            campaign.save(update_fields=["status"])
        links = []
        for number in range(1, 4):
            token, token_hash = new_token()
            Invitation.objects.update_or_create(
                campaign=campaign,
                email=f"tester{number}@example.com",
                defaults={"token_hash": token_hash, "expires_at": timezone.now() + timedelta(days=14)},
            )
            links.append(f"{settings.SITE_URL}/t/{token}/")
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Log in at {settings.SITE_URL}/accounts/login/ as {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write("  Tester links (each opens the consent page):")
        for link in links:
            self.stdout.write(f"    {link}")
