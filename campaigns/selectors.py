"""Reads for the researcher's side. Access to a campaign always goes through get_campaign_for_user."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.capture import snapshots_per_showing
from campaigns.models import (
    FREE_MAIL_DOMAINS,
    Campaign,
    ConsentVersion,
    Invitation,
    InvitationState,
    Marker,
    Organisation,
    ScreenerQuestion,
    SurveyQuestion,
    Variant,
    email_domains,
)


def organisation_for_user(user: AbstractBaseUser | AnonymousUser) -> Organisation | None:
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organisation if membership is not None else None


def campaigns_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Campaign]:
    organisation = organisation_for_user(user)
    if organisation is None:
        return Campaign.objects.none()
    return Campaign.objects.filter(organisation=organisation)


def get_campaign_for_user(user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str) -> Campaign:
    """The one way to fetch a campaign for a researcher: 404 for anyone outside its organisation."""
    try:
        campaign_uuid = uuid.UUID(str(campaign_id))
    except ValueError as error:
        raise Http404("No such campaign.") from error
    campaign = campaigns_for_user(user).filter(pk=campaign_uuid).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def get_variant_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, variant_id: uuid.UUID | str
) -> Variant:
    """A variant of a campaign the user may see, else 404."""
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(Variant.objects.select_related("campaign"), campaign=campaign, pk=variant_id)


def get_marker_for_user(user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, marker_id: int) -> Marker:
    """A marker on a variant of a campaign the user may see, else 404."""
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(Marker, variant__campaign=campaign, pk=marker_id)


def get_question_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, question_id: int
) -> SurveyQuestion:
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(SurveyQuestion.objects.select_related("campaign"), campaign=campaign, pk=question_id)


def get_screener_question_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, question_id: int
) -> ScreenerQuestion:
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(ScreenerQuestion.objects.select_related("campaign"), campaign=campaign, pk=question_id)


def screener_questions(*, campaign: Campaign) -> QuerySet[ScreenerQuestion]:
    return ScreenerQuestion.objects.filter(campaign=campaign).order_by("position", "id")


def screener_defaults(*, kind: str, language: str) -> tuple[str, list[str]]:
    """The question and choices a fixed kind starts with, in the campaign's language (what its testers
    read); ("", []) for a choice question of the researcher's own."""
    with translation.override(language):
        if kind == ScreenerQuestion.Kind.AGE_BAND:
            return _("How old are you?"), ["18-29", "30-44", "45-59", "60+"]
        if kind == ScreenerQuestion.Kind.GENDER:
            return _("What is your gender?"), [_("Female"), _("Male"), _("Diverse"), _("Prefer not to say")]
        if kind == ScreenerQuestion.Kind.CUSTOMER:
            return _("Are you already a customer?"), [_("Yes"), _("No")]
    return "", []


def get_invitation_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, invitation_id: int
) -> Invitation:
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(Invitation.objects.select_related("campaign"), campaign=campaign, pk=invitation_id)


def campaign_list_for_user(user: AbstractBaseUser | AnonymousUser, *, archived: bool) -> QuerySet[Campaign]:
    return (
        campaigns_for_user(user)
        .filter(archived_at__isnull=not archived)
        .annotate(variant_count=Count("variants", distinct=True), invitation_count=Count("invitations", distinct=True))
    )


def current_consent(*, campaign: Campaign) -> ConsentVersion | None:
    return campaign.consent_versions.order_by("-version").first()


# Once a tester consented, a new link would only confuse; a revoked link can be sent anew.
RESENDABLE_STATES = {
    InvitationState.QUEUED,
    InvitationState.SENT,
    InvitationState.OPENED,
    InvitationState.EXPIRED,
    InvitationState.BOUNCED,
    InvitationState.REVOKED,
}
REVOCABLE_STATES = {InvitationState.QUEUED, InvitationState.SENT, InvitationState.OPENED, InvitationState.BOUNCED}


def invitations_with_state(*, campaign: Campaign) -> QuerySet[Invitation]:
    """Each invitation annotated with `state`, derived from its own timestamps and its tester's.

    The order of the cases is the precedence: what the tester did last wins over delivery facts.
    """
    now = timezone.now()
    state = Case(
        When(revoked_at__isnull=False, then=Value(InvitationState.REVOKED)),
        When(withdrawn_at__isnull=False, then=Value(InvitationState.WITHDRAWN)),
        When(tester__completed_at__isnull=False, then=Value(InvitationState.COMPLETED)),
        When(tester__consented_at__isnull=False, then=Value(InvitationState.CONSENTED)),
        When(~Q(send_error=""), then=Value(InvitationState.BOUNCED)),
        When(expires_at__lte=now, then=Value(InvitationState.EXPIRED)),
        When(opened_at__isnull=False, then=Value(InvitationState.OPENED)),
        When(sent_at__isnull=False, then=Value(InvitationState.SENT)),
        default=Value(InvitationState.QUEUED),
        output_field=CharField(),
    )
    return campaign.invitations.annotate(state=state).order_by("created_at", "pk")


def invitation_state_counts(*, campaign: Campaign) -> dict[str, int]:
    """{state: count} for every state, zeros included, in one query."""
    counts = dict.fromkeys(InvitationState.values, 0)
    rows = invitations_with_state(campaign=campaign).order_by().values("state").annotate(total=Count("pk"))
    for row in rows:
        counts[row["state"]] = row["total"]
    return counts


def campaign_start_problems(*, campaign: Campaign) -> list[str]:
    """What is missing before a campaign may run; empty when it may start."""
    problems = []
    variants = list(campaign.variants.only("kind", "label", "duration_ms"))
    if len(variants) < 2:
        problems.append(_("Add at least two variants."))
    problems += capture_shortfalls(
        interval=campaign.capture_interval_seconds,
        display_seconds=campaign.image_display_seconds,
        minimum=campaign.min_frames_per_tester,
        images=any(variant.kind == Variant.Kind.IMAGE for variant in variants),
        videos=[variant for variant in variants if variant.kind == Variant.Kind.VIDEO],
    )
    consent = current_consent(campaign=campaign)
    if consent is None or not consent.text.strip():
        problems.append(_("Write the consent text testers must accept."))
    if not campaign.questions.filter(kind=SurveyQuestion.Kind.SCALE).exists():
        problems.append(_("Add at least one rating-scale question to the survey."))
    return problems


def campaign_page(*, campaign: Campaign) -> dict[str, Any]:
    """Everything the campaign page shows, in a fixed number of queries."""
    consent = current_consent(campaign=campaign)
    counts = invitation_state_counts(campaign=campaign)
    invitations = list(invitations_with_state(campaign=campaign))
    for invitation in invitations:
        invitation.state_label = InvitationState(invitation.state).label
    variants = list(campaign.variants.all())
    for variant in variants:
        variant.seconds = seconds_text(variant.duration_ms / 1000) if variant.duration_ms else None
        variant.snapshots = variant_snapshots(campaign=campaign, variant=variant)
        variant.too_few_snapshots = variant.snapshots is not None and variant.snapshots < campaign.min_frames_per_tester
    open_link_testers = campaign.testers.filter(invitation__isnull=True).count()
    # Invited as the dashboard counts it: every invitation not revoked, and each open-link tester.
    invited = sum(counts.values()) - counts[InvitationState.REVOKED] + open_link_testers
    return {
        "variants": variants,
        "questions": list(campaign.questions.all()),
        "screener_questions": list(screener_questions(campaign=campaign)),
        "consent": consent,
        "invitations": invitations,
        "resendable": RESENDABLE_STATES,
        "revocable": REVOCABLE_STATES,
        "state_counts": [(value, label, counts[value]) for value, label in InvitationState.choices],
        "start_problems": campaign_start_problems(campaign=campaign)
        if campaign.status == Campaign.Status.DRAFT
        else [],
        "open_link_testers": open_link_testers,
        "capture_interval": seconds_text(campaign.capture_interval_seconds),
        "invited": invited,
    }


def estimated_minutes(*, campaign: Campaign) -> int:
    """A rough duration for the start page: the camera check, every variant, a minute per survey."""
    survey_seconds = 60 if campaign.questions.exists() else 0
    seconds = 60
    for variant in campaign.variants.all():
        is_video = variant.kind == Variant.Kind.VIDEO
        seconds += ((variant.duration_ms or 0) / 1000 if is_video else campaign.image_display_seconds) + survey_seconds
    return max(1, round(seconds / 60))


# --- Snapshots per advertisement --------------------------------------------------------------
# A tester's emotions count only with `min_frames_per_tester` analysed snapshots of every variant,
# so settings or videos that cannot give that many are refused where they are entered.


def seconds_text(seconds: float) -> str:
    """12.5 -> "12.5" ("12,5" on German pages), 2.0 -> "2"."""
    value = round(float(seconds), 1)
    return number_format(value, decimal_pos=0 if value.is_integer() else 1)


def variant_snapshots(*, campaign: Campaign, variant: Variant) -> int | None:
    """How many snapshots the tester page takes while this variant shows; None for a video whose
    length is unknown."""
    if variant.kind == Variant.Kind.IMAGE:
        return snapshots_per_showing(campaign.image_display_seconds, campaign.capture_interval_seconds)
    if not variant.duration_ms:
        return None
    return snapshots_per_showing(variant.duration_ms / 1000, campaign.capture_interval_seconds)


def campaign_videos(*, campaign: Campaign) -> list[Variant]:
    return list(campaign.variants.filter(kind=Variant.Kind.VIDEO).only("label", "duration_ms"))


def capture_shortfalls(
    *, interval: float, display_seconds: float, minimum: int, images: bool, videos: list[Variant]
) -> list[str]:
    """One sentence, naming the numbers, for images (if `images`) and for each video that would
    give fewer snapshots than the minimum at this interval."""
    problems = []
    count = snapshots_per_showing(display_seconds, interval)
    if images and count < minimum:
        problems.append(
            ngettext(
                "At one snapshot every %(interval)s s, an image shown %(seconds)s s gives %(count)s snapshot, "
                "fewer than the minimum of %(minimum)s. Show images longer, take snapshots more often or "
                "lower the minimum.",
                "At one snapshot every %(interval)s s, an image shown %(seconds)s s gives %(count)s snapshots, "
                "fewer than the minimum of %(minimum)s. Show images longer, take snapshots more often or "
                "lower the minimum.",
                count,
            )
            % {
                "interval": seconds_text(interval),
                "seconds": seconds_text(display_seconds),
                "count": count,
                "minimum": minimum,
            }
        )
    for video in videos:
        count = snapshots_per_showing((video.duration_ms or 0) / 1000, interval)
        if video.duration_ms and count < minimum:
            problems.append(
                ngettext(
                    "At one snapshot every %(interval)s s, the video “%(label)s” (%(seconds)s s) gives "
                    "%(count)s snapshot, fewer than the minimum of %(minimum)s. Take snapshots more often, "
                    "lower the minimum or replace the video.",
                    "At one snapshot every %(interval)s s, the video “%(label)s” (%(seconds)s s) gives "
                    "%(count)s snapshots, fewer than the minimum of %(minimum)s. Take snapshots more often, "
                    "lower the minimum or replace the video.",
                    count,
                )
                % {
                    "interval": seconds_text(interval),
                    "label": video.label,
                    "seconds": seconds_text(video.duration_ms / 1000),
                    "count": count,
                    "minimum": minimum,
                }
            )
    return problems


def video_upload_shortfall(*, campaign: Campaign, duration_ms: int | None) -> str | None:
    """Why a video of this length cannot be a variant of this campaign, or None if it can."""
    interval, minimum = campaign.capture_interval_seconds, campaign.min_frames_per_tester
    count = snapshots_per_showing((duration_ms or 0) / 1000, interval)
    if not duration_ms or count >= minimum:
        return None
    return ngettext(
        "This video lasts %(seconds)s s: at one snapshot every %(interval)s s it gives %(count)s snapshot, "
        "fewer than this campaign's minimum of %(minimum)s. Upload a longer video, or take snapshots more "
        "often or lower the minimum in the campaign's settings.",
        "This video lasts %(seconds)s s: at one snapshot every %(interval)s s it gives %(count)s snapshots, "
        "fewer than this campaign's minimum of %(minimum)s. Upload a longer video, or take snapshots more "
        "often or lower the minimum in the campaign's settings.",
        count,
    ) % {
        "seconds": seconds_text(duration_ms / 1000),
        "interval": seconds_text(interval),
        "count": count,
        "minimum": minimum,
    }


# --- The organisation's own e-mail domains ----------------------------------------------------
# Emotion recognition at the workplace is prohibited (EU AI Act, Art. 5(1)(f)): addresses at the
# organisation's own domains are invited only after the researcher confirms they are not employees.

# Reserved for documentation and tests (RFC 2606, RFC 6761): no one receives mail there, so a
# researcher account at one (the demo account, say) names no employer.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost")


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower()


def _within(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def own_email_domains(*, organisation: Organisation, researcher: AbstractBaseUser | None = None) -> list[str]:
    """The organisation's configured own domains; when it has none, the domain of the inviting
    researcher's own address, unless anyone could have an address there (free mail, reserved)."""
    configured = [domain for domain in email_domains(organisation.own_email_domains) if domain not in FREE_MAIL_DOMAINS]
    if configured:
        return configured
    address = getattr(researcher, "email", "") or ""
    domain = address_domain(address) if "@" in address else ""
    if not domain or domain in FREE_MAIL_DOMAINS or any(_within(domain, reserved) for reserved in RESERVED_DOMAINS):
        return []
    return [domain]


def own_domain_of(address: str, domains: list[str]) -> str | None:
    """Which of `domains` the address is at, subdomains included (mail.verlag-eins.de is at
    verlag-eins.de); None for any other address."""
    domain = address_domain(address)
    return next((own for own in domains if _within(domain, own)), None)


def workplace_confirmation_statement(*, organisation: Organisation, domains: list[str], count: int) -> str:
    """The sentence a researcher confirms before addresses at the organisation's own domains are
    invited; the record keeps it word for word."""
    return ngettext(
        "I confirm that the person at the one address at %(domains)s is not an employee of "
        "%(organisation)s and does not take part at their workplace.",
        "I confirm that the people at the %(count)s addresses at %(domains)s are not employees of "
        "%(organisation)s and do not take part at their workplace.",
        count,
    ) % {"count": count, "domains": ", ".join(domains), "organisation": organisation.name}
