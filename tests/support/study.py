"""Build a running campaign the way a researcher would leave it: variants, consent, a survey and
invitation links (returned in clear, as the e-mails would carry them)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from campaigns.models import Campaign, ConsentVersion, Invitation, Organisation, SurveyQuestion, Variant
from campaigns.tokens import new_token

CONSENT_TEXT = "I agree that snapshots of my face are analysed for this study (test consent v2)."


def poster_png(colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Study:
    campaign: Campaign
    variants: list[Variant]
    questions: list[SurveyQuestion]
    tokens: list[str] = field(default_factory=list)

    def invite(self, email: str, *, expires_in: timedelta = timedelta(days=7)) -> str:
        token, token_hash = new_token()
        Invitation.objects.create(
            campaign=self.campaign, email=email, token_hash=token_hash, expires_at=timezone.now() + expires_in
        )
        self.tokens.append(token)
        return token


def make_study(
    *,
    variants: int = 2,
    invitations: int = 2,
    display_seconds: int = 2,
    capture_interval: float = 0.5,
    status: str = Campaign.Status.RUNNING,
    organisation_name: str = "Testverlag",
    name: str = "Spring posters",
    public_title: str = "Spring posters",
    language: str = Campaign.Language.ENGLISH,
) -> Study:
    organisation = Organisation.objects.create(name=organisation_name)
    campaign = Campaign.objects.create(
        organisation=organisation,
        name=name,
        public_title=public_title,
        language=language,
        status=status,
        image_display_seconds=display_seconds,
        capture_interval_seconds=capture_interval,
    )
    ConsentVersion.objects.create(campaign=campaign, version=1, text="An older consent text.")
    ConsentVersion.objects.create(campaign=campaign, version=2, text=CONSENT_TEXT)
    colours = [(31, 95, 191), (179, 38, 30), (27, 122, 61), (161, 92, 0)]
    made = []
    for position in range(variants):
        variant = Variant(
            campaign=campaign,
            label=f"Poster {'ABCD'[position]}",
            kind=Variant.Kind.IMAGE,
            content_type="image/png",
            width=320,
            height=180,
            position=position,
        )
        variant.file.save(f"test-poster-{position}.png", ContentFile(poster_png(colours[position % 4])), save=False)
        variant.save()
        made.append(variant)
    questions = [
        SurveyQuestion.objects.create(
            campaign=campaign,
            position=0,
            text="How much do you like this poster?",
            min_label="not at all",
            max_label="very much",
            scale_min=1,
            scale_max=7,
        ),
        SurveyQuestion.objects.create(
            campaign=campaign, position=1, kind=SurveyQuestion.Kind.TEXT, text="What do you remember?", required=False
        ),
    ]
    study = Study(campaign, made, questions)
    for number in range(invitations):
        study.invite(f"tester{number}@example.com")
    return study
