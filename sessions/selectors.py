"""Reads for the tester's journey. The tester itself always comes from sessions.access."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from campaigns.models import Campaign, SurveyQuestion, Variant
from sessions.models import Tester


@dataclass(frozen=True)
class Step:
    """Where a tester stands: the page name (`tester:<name>`) and, while viewing, the variant."""

    name: str
    variant: Variant | None = None
    index: int = 0
    total: int = 0


def tester_step(*, tester: Tester) -> Step:
    """The one place that decides which page a tester belongs on, so reloads and back buttons land
    on the right step instead of repeating or skipping one."""
    total = len(tester.variant_order)
    if tester.declined_at is not None:
        return Step("declined")
    if tester.completed_at is not None:
        return Step("finish", total=total)
    if tester.consented_at is None:
        return Step("start")
    if tester.campaign.status != Campaign.Status.RUNNING:
        return Step("closed")
    if tester.camera == Tester.Camera.UNKNOWN:
        return Step("camera")
    if tester.viewed_count > tester.answered_count:
        index = tester.answered_count
        return Step("survey", variant_for_tester(tester=tester, variant_id=tester.variant_order[index]), index, total)
    if tester.viewed_count < total:
        index = tester.viewed_count
        return Step("watch", variant_for_tester(tester=tester, variant_id=tester.variant_order[index]), index, total)
    return Step("finish", total=total)


def variant_for_tester(*, tester: Tester, variant_id: str) -> Variant | None:
    """A variant of the tester's own campaign that is in their viewing order, else None."""
    if str(variant_id) not in tester.variant_order:
        return None
    return Variant.objects.filter(pk=variant_id, campaign_id=tester.campaign_id).first()


def survey_questions(*, campaign: Campaign) -> QuerySet[SurveyQuestion]:
    return SurveyQuestion.objects.filter(campaign=campaign).order_by("position", "id")


def current_consent_text(*, campaign: Campaign) -> str:
    consent = campaign.consent_versions.order_by("-version").first()
    return consent.text if consent is not None else ""


def estimated_minutes(*, campaign: Campaign) -> int:
    """A rough duration for the start page: the camera check, every variant, a minute per survey."""
    survey_seconds = 60 if campaign.questions.exists() else 0
    seconds = 60
    for variant in campaign.variants.all():
        is_video = variant.kind == Variant.Kind.VIDEO
        seconds += ((variant.duration_ms or 0) / 1000 if is_video else campaign.image_display_seconds) + survey_seconds
    return max(1, round(seconds / 60))
