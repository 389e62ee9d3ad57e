"""Reads for the tester's journey. The tester itself always comes from sessions.access."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext

from campaigns.models import Campaign, ScreenerQuestion, SurveyQuestion, Variant
from campaigns.selectors import get_campaign_for_user
from sessions.models import BaselineSnapshot, Tester


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
        # Only before the camera check: once it is done the screener was answered, so the pages
        # after it need no query for it.
        return Step("screener") if screener_unanswered(tester=tester) else Step("camera")
    if tester.viewed_count > tester.answered_count:
        index = tester.answered_count
        return Step("survey", variant_for_tester(tester=tester, variant_id=tester.variant_order[index]), index, total)
    if tester.viewed_count < total:
        index = tester.viewed_count
        return Step("watch", variant_for_tester(tester=tester, variant_id=tester.variant_order[index]), index, total)
    return Step("finish", total=total)


def screener_unanswered(*, tester: Tester) -> bool:
    """Whether the tester's campaign has a screener question they have not answered yet."""
    answered = tester.screener_answers.values("question_id")
    return ScreenerQuestion.objects.filter(campaign_id=tester.campaign_id).exclude(pk__in=answered).exists()


def variant_for_tester(*, tester: Tester, variant_id: str) -> Variant | None:
    """A variant of the tester's own campaign that is in their viewing order, else None."""
    if str(variant_id) not in tester.variant_order:
        return None
    return Variant.objects.filter(pk=variant_id, campaign_id=tester.campaign_id).first()


def tester_asked_for_posed(*, tester: Tester) -> bool:
    """Whether the camera page asks this tester for a posed smile and a posed neutral face: their
    consent page said so (Tester.posed_expressions) and the campaign still wants them."""
    return Tester.objects.filter(pk=tester.pk, posed_expressions=True, campaign__posed_expressions=True).exists()


def baseline_kinds_to_record(*, tester: Tester) -> list[str]:
    """The baseline kinds the camera page still records, in order: the resting face, then the posed
    ones if asked for; a kind already recorded (a reload of the page) is not asked for again."""
    kinds = [BaselineSnapshot.Kind.RESTING]
    if tester_asked_for_posed(tester=tester):
        kinds += [BaselineSnapshot.Kind.POSED_SMILE, BaselineSnapshot.Kind.POSED_NEUTRAL]
    recorded = set(tester.baseline_snapshots.values_list("kind", flat=True).distinct())
    return [str(kind) for kind in kinds if kind not in recorded]


def baseline_snapshot_for_analysis(*, snapshot_id: int) -> dict[str, Any] | None:
    """What a worker needs of a baseline snapshot that is still pending (None if it is gone: the
    tester withdrew, or it was analysed already): its age and the model the campaign names."""
    pending = BaselineSnapshot.objects.filter(pk=snapshot_id, outcome=BaselineSnapshot.Outcome.PENDING)
    return pending.values("pk", "created_at", "campaign__model_version_id").first()


def study_title(*, campaign: Campaign) -> str:
    """What testers call the study: the researcher's public title, or a neutral one. The campaign's
    name is the researchers' own label and may say more than a tester should read (a client, a
    hypothesis)."""
    return campaign.public_title.strip() or gettext("Advertising study")


def survey_questions(*, campaign: Campaign) -> QuerySet[SurveyQuestion]:
    return SurveyQuestion.objects.filter(campaign=campaign).order_by("position", "id")


def tester_language(*, campaign: Campaign, cookies: Mapping[str, str]) -> str:
    """The language the tester's pages and API answers speak: the campaign's, unless the tester
    chose one with the language switcher (its cookie; LocaleMiddleware has already activated it)."""
    if settings.LANGUAGE_COOKIE_NAME in cookies:
        return translation.get_language() or campaign.language
    return campaign.language


def consent_fingerprint(text: str) -> str:
    """A digest of a consent text, carried by the start page's form: a version that nobody has
    accepted yet is edited in place (campaigns.services.consent_set), so its id alone does not
    say which words the tester read."""
    return hashlib.sha256(text.encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _prediction_data(prediction: Any, role: str) -> dict[str, Any]:
    return {
        "model": str(prediction.model_version),
        # A model the campaign no longer names (switched since) is "other".
        "role": role,
        "top_class": prediction.top_class,
        "top_probability": prediction.top_probability,
        "probabilities": prediction.probabilities,
        "face_box": prediction.face_box,
    }


def tester_personal_data(*, tester: Tester) -> dict[str, Any]:
    """Everything stored about one tester (GDPR Art. 15), as plain JSON-ready data: the invitation
    (with the e-mail address while it is kept), consent, viewing order, every snapshot's outcome
    and prediction (the camera page's baseline snapshots too), the screener and survey answers. Snapshot
    images themselves are never kept unless the campaign opted in (then the file's retention date
    is listed); baseline snapshots never."""
    invitation = tester.invitation
    consent = tester.consent_version
    labels = {
        str(pk): label
        for pk, label in Variant.objects.filter(campaign_id=tester.campaign_id).values_list("pk", "label")
    }
    campaign = tester.campaign

    def role(prediction: Any) -> str:
        # A campaign that names no model follows the globally active one; the second opinion's
        # model counts as the primary where it is that too (as on the dashboard).
        if campaign.model_version_id is not None:
            is_primary = prediction.model_version_id == campaign.model_version_id
        else:
            is_primary = prediction.model_version.is_active
        if is_primary:
            return "primary"
        return "second_opinion" if prediction.model_version_id == campaign.second_model_version_id else "other"

    # Every model's prediction of a frame, primary first and then by model, so the file is the
    # same on every download.
    rank = {"primary": 0, "second_opinion": 1, "other": 2}
    frames = []
    for frame in tester.frames.order_by("variant_id", "sequence").prefetch_related("predictions__model_version"):
        scored = sorted(
            ((role(row), row) for row in frame.predictions.all()),
            key=lambda pair: (rank[pair[0]], pair[1].model_version_id, pair[1].pk),
        )
        frames.append(
            {
                "variant": labels.get(str(frame.variant_id), str(frame.variant_id)),
                "sequence": frame.sequence,
                "media_time_ms": frame.media_time_ms,
                "captured_at": _iso(frame.captured_at),
                "received_at": _iso(frame.received_at),
                "outcome": frame.outcome,
                "quality": frame.quality,
                "head_turn_degrees": frame.head_turn_degrees,
                "image_kept_until": _iso(frame.retain_until) if frame.kept_image else None,
                "predictions": [_prediction_data(row, row_role) for row_role, row in scored],
            }
        )
    baseline = [
        {
            "kind": snapshot.kind,
            "sequence": snapshot.sequence,
            "captured_at": _iso(snapshot.captured_at),
            "received_at": _iso(snapshot.created_at),
            "outcome": snapshot.outcome,
            "quality": snapshot.quality,
            "model": str(snapshot.model_version) if snapshot.model_version_id else None,
            "top_class": snapshot.top_class or None,
            "probabilities": snapshot.probabilities,
            "calibrated_probabilities": snapshot.calibrated_probabilities,
            "face_box": snapshot.face_box,
        }
        for snapshot in tester.baseline_snapshots.select_related("model_version").order_by("kind", "sequence")
    ]
    answers = tester.answers.select_related("question", "variant").order_by("variant__position", "question__position")
    screener = tester.screener_answers.select_related("question").order_by("question__position", "question_id")
    return {
        "tester": str(tester.pk),
        "campaign": study_title(campaign=tester.campaign),
        "invitation": None
        if invitation is None
        else {
            "email": invitation.email,
            "sent_at": _iso(invitation.sent_at),
            "opened_at": _iso(invitation.opened_at),
            "expires_at": _iso(invitation.expires_at),
        },
        "consent": {
            "version": consent.version if consent else None,
            "text": consent.text if consent else None,
            "consented_at": _iso(tester.consented_at),
            "declined_at": _iso(tester.declined_at),
        },
        "camera": tester.camera,
        "variant_order": [labels.get(variant_id, variant_id) for variant_id in tester.variant_order],
        "completed_at": _iso(tester.completed_at),
        "posed_expressions_asked": tester.posed_expressions,
        "baseline_snapshots": baseline,
        "frames": frames,
        "screener_answers": [
            {"question": answer.question.text, "choice": answer.choice, "answered_at": _iso(answer.answered_at)}
            for answer in screener
        ],
        "answers": [
            {
                "variant": answer.variant.label,
                "question": answer.question.text,
                "rating": answer.rating,
                "comment": answer.comment,
                "answered_at": _iso(answer.answered_at),
            }
            for answer in answers
        ],
    }


def get_tester_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, tester_id: uuid.UUID | str
) -> Tester:
    """A tester of a campaign the user may see, else 404."""
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(
        Tester.objects.select_related("campaign", "invitation", "consent_version"), campaign=campaign, pk=tester_id
    )
