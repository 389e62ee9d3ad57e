"""Writes for the researcher's side. Every function runs in one transaction; e-mail goes out in a
Celery task queued on commit, so a worker never looks for a row that was rolled back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.media_validation import ValidatedMedia
from campaigns.models import (
    Campaign,
    ConsentVersion,
    Invitation,
    Marker,
    Organisation,
    ScreenerQuestion,
    SurveyQuestion,
    Variant,
    WorkplaceConfirmation,
)
from campaigns.selectors import (
    campaign_start_problems,
    current_consent,
    own_domain_of,
    own_email_domains,
    screener_defaults,
    video_upload_shortfall,
    workplace_confirmation_statement,
)
from campaigns.tokens import new_token
from config.errors import ApplicationError

# Settings a researcher edits on the campaign form; anything else is set by a dedicated service.
CAMPAIGN_FIELDS = (
    "name",
    "public_title",
    "description",
    "language",
    "capture_interval_seconds",
    "image_display_seconds",
    "min_frames_per_tester",
    "confidence_threshold",
    "order_mode",
    "keep_frames",
    "frame_retention_days",
    "posed_expressions",
    "invitation_ttl_days",
    "open_link_quota",
)


def _locked(campaign: Campaign) -> Campaign:
    """Re-read the campaign row FOR UPDATE, so status checks and the writes after them agree."""
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _ensure_draft(campaign: Campaign, *, screener: bool = False) -> None:
    """Refuse a change that would mix results (or, for the screener, testers' groups) once started."""
    if campaign.status == Campaign.Status.DRAFT:
        return
    if screener:
        message = _(
            "Screener questions cannot change once the campaign has started: testers' groups would mix. "
            "Duplicate the campaign to ask different ones."
        )
    else:
        message = _(
            "Variants and the survey cannot change once the campaign has started: results would mix. "
            "Duplicate the campaign to test different variants."
        )
    raise ApplicationError(message, status_code=409)


# --- Campaigns --------------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *, organisation: Organisation, created_by: AbstractBaseUser, consent_text: str, **values: Any
) -> Campaign:
    """Create a draft campaign. `values` are CAMPAIGN_FIELDS; missing ones take the model defaults."""
    unknown = set(values) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise TypeError(f"campaign_create got unknown fields: {sorted(unknown)}")
    values.setdefault("invitation_ttl_days", settings.MIMIK["INVITATION_TTL_DAYS"])
    campaign = Campaign(organisation=organisation, created_by=created_by, **values)
    campaign.full_clean()
    campaign.save()
    if consent_text.strip():
        ConsentVersion.objects.create(campaign=campaign, version=1, text=consent_text.strip())
    return campaign


def _ensure_no_wider_keeping(campaign: Campaign, values: dict[str, Any]) -> None:
    """Testers who consented were told whether their snapshots are kept, and for how many days
    (the start page says so). Once the campaign has started, keeping may only become less: switching
    it on, or keeping for longer, would store their snapshots against what they agreed to."""
    if campaign.status == Campaign.Status.DRAFT:
        return
    keep = values.get("keep_frames", campaign.keep_frames)
    days = values.get("frame_retention_days", campaign.frame_retention_days)
    if keep and (not campaign.keep_frames or days > campaign.frame_retention_days):
        raise ApplicationError(
            _(
                "Testers of a started campaign were told how long their snapshots are kept: keeping them "
                "cannot be switched on or made longer now. Duplicate the campaign to keep snapshots."
            ),
            status_code=409,
        )


@transaction.atomic
def campaign_update(*, campaign: Campaign, consent_text: str, **values: Any) -> Campaign:
    campaign = _locked(campaign)
    _ensure_no_wider_keeping(campaign, values)
    for name, value in values.items():
        if name not in CAMPAIGN_FIELDS:
            raise TypeError(f"campaign_update cannot set {name}")
        setattr(campaign, name, value)
    campaign.full_clean()
    campaign.save(update_fields=[*values, "updated_at"])
    consent_set(campaign=campaign, text=consent_text)
    return campaign


@transaction.atomic
def consent_set(*, campaign: Campaign, text: str) -> ConsentVersion | None:
    """Edit the consent text in place until someone has accepted it; after that, add a version,
    so every consent keeps pointing at the exact words that tester read."""
    text = text.strip()
    latest = current_consent(campaign=campaign)
    if latest is not None and latest.text == text:
        return latest
    if latest is None:
        return ConsentVersion.objects.create(campaign=campaign, version=1, text=text) if text else None
    if not campaign.testers.filter(consent_version=latest).exists():
        latest.text = text
        latest.save(update_fields=["text"])
        return latest
    return ConsentVersion.objects.create(campaign=campaign, version=latest.version + 1, text=text)


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, created_by: AbstractBaseUser) -> Campaign:
    """A new draft with the same settings, consent text, variants, survey and screener questions; no
    testers, no links."""
    consent = current_consent(campaign=campaign)
    copy = campaign_create(
        organisation=campaign.organisation,
        created_by=created_by,
        consent_text=consent.text if consent else "",
        **{name: getattr(campaign, name) for name in CAMPAIGN_FIELDS if name != "name"},
        name=_("Copy of %(name)s") % {"name": campaign.name},
    )
    copy.model_version_id = campaign.model_version_id
    copy.second_model_version_id = campaign.second_model_version_id
    copy.save(update_fields=["model_version", "second_model_version"])
    for variant in campaign.variants.all():
        with variant.file.open("rb") as source:
            content = source.read()
        duplicate = Variant(
            campaign=copy,
            label=variant.label,
            description=variant.description,
            kind=variant.kind,
            content_type=variant.content_type,
            width=variant.width,
            height=variant.height,
            duration_ms=variant.duration_ms,
            position=variant.position,
        )
        duplicate.file.save(_stored_name(variant.file.name.rsplit(".", 1)[-1]), ContentFile(content), save=False)
        if variant.poster:
            with variant.poster.open("rb") as source:
                duplicate.poster.save(_stored_name("jpg"), ContentFile(source.read()), save=False)
        duplicate.save()
    SurveyQuestion.objects.bulk_create(
        SurveyQuestion(
            campaign=copy,
            position=question.position,
            kind=question.kind,
            text=question.text,
            scale_min=question.scale_min,
            scale_max=question.scale_max,
            min_label=question.min_label,
            max_label=question.max_label,
            required=question.required,
        )
        for question in campaign.questions.all()
    )
    ScreenerQuestion.objects.bulk_create(
        ScreenerQuestion(
            campaign=copy,
            position=question.position,
            kind=question.kind,
            text=question.text,
            choices=list(question.choices),
        )
        for question in campaign.screener_questions.all()
    )
    return copy


@transaction.atomic
def campaign_archive(*, campaign: Campaign) -> Campaign:
    """Hide the campaign from the list; a running one is closed first so no one can join it."""
    campaign = _locked(campaign)
    if campaign.archived_at is None:
        campaign.archived_at = timezone.now()
        if campaign.status == Campaign.Status.RUNNING:
            campaign.status = Campaign.Status.CLOSED
        campaign.save(update_fields=["archived_at", "status", "updated_at"])
    return campaign


@transaction.atomic
def campaign_unarchive(*, campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    campaign.archived_at = None
    campaign.save(update_fields=["archived_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_start(*, campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    if campaign.archived_at is not None:
        raise ApplicationError(_("Restore the campaign from the archive before starting it."), status_code=409)
    if campaign.status != Campaign.Status.DRAFT:
        raise ApplicationError(_("Only a draft campaign can be started."), status_code=409)
    problems = campaign_start_problems(campaign=campaign)
    if problems:
        raise ApplicationError(
            _("The campaign cannot start yet: %(problems)s") % {"problems": " ".join(problems)},
            extra={"missing": problems},
            status_code=409,
        )
    campaign.status = Campaign.Status.RUNNING
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


@transaction.atomic
def campaign_close(*, campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    if campaign.status != Campaign.Status.RUNNING:
        raise ApplicationError(_("Only a running campaign can be closed."), status_code=409)
    campaign.status = Campaign.Status.CLOSED
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


# --- Variants and survey ----------------------------------------------------------------------


def _stored_name(extension: str) -> str:
    # The uploader's file name is never reused: it may carry personal data or path tricks.
    return f"{uuid.uuid4().hex}.{extension}"


def _ensure_enough_snapshots(campaign: Campaign, media: ValidatedMedia | None) -> None:
    """A video too short to give the campaign's minimum of snapshots could never count."""
    if media is None or media.kind != Variant.Kind.VIDEO:
        return
    problem = video_upload_shortfall(campaign=campaign, duration_ms=media.duration_ms)
    if problem:
        raise ApplicationError(problem)


def _store_media(variant: Variant, media: ValidatedMedia) -> None:
    """Put the media's file (and a video's poster) in storage; the caller saves the row."""
    variant.kind, variant.content_type = media.kind, media.content_type
    variant.width, variant.height, variant.duration_ms = media.width, media.height, media.duration_ms
    variant.file.save(_stored_name(media.extension), ContentFile(media.content), save=False)
    variant.poster = ""
    if media.poster:
        variant.poster.save(_stored_name("jpg"), ContentFile(media.poster), save=False)


def _delete_on_commit(storage, *names: str) -> None:
    """Remove stored files once the rows no longer point at them (never if the change rolls back)."""

    def delete() -> None:
        for name in names:
            if name:
                storage.delete(name)

    transaction.on_commit(delete)


@transaction.atomic
def variant_add(*, campaign: Campaign, label: str, description: str = "", media: ValidatedMedia) -> Variant:
    campaign = _locked(campaign)
    _ensure_draft(campaign)
    _ensure_enough_snapshots(campaign, media)
    variant = Variant(campaign=campaign, label=label, description=description, position=campaign.variants.count())
    _store_media(variant, media)
    try:
        variant.save()
    except Exception:
        # If the row cannot be written, the files must not stay behind either.
        variant.file.delete(save=False)
        if variant.poster:
            variant.poster.delete(save=False)
        raise
    return variant


@transaction.atomic
def variant_update(
    *, variant: Variant, label: str, description: str = "", media: ValidatedMedia | None = None
) -> Variant:
    campaign = _locked(variant.campaign)
    _ensure_draft(campaign)
    _ensure_enough_snapshots(campaign, media)
    variant.label, variant.description = label, description
    fields = ["label", "description"]
    if media is not None:
        _delete_on_commit(variant.file.storage, variant.file.name, variant.poster.name)
        _store_media(variant, media)
        fields += ["kind", "content_type", "width", "height", "duration_ms", "file", "poster"]
    variant.save(update_fields=fields)
    return variant


@transaction.atomic
def variant_delete(*, variant: Variant) -> None:
    _ensure_draft(_locked(variant.campaign))
    _delete_on_commit(variant.file.storage, variant.file.name, variant.poster.name)
    variant.delete()


@transaction.atomic
def question_add(*, campaign: Campaign, **values: Any) -> SurveyQuestion:
    campaign = _locked(campaign)
    _ensure_draft(campaign)
    question = SurveyQuestion(campaign=campaign, position=campaign.questions.count(), **values)
    question.full_clean()
    question.save()
    return question


@transaction.atomic
def question_update(*, question: SurveyQuestion, **values: Any) -> SurveyQuestion:
    _ensure_draft(_locked(question.campaign))
    for name, value in values.items():
        setattr(question, name, value)
    question.full_clean()
    question.save(update_fields=list(values))
    return question


@transaction.atomic
def question_delete(*, question: SurveyQuestion) -> None:
    _ensure_draft(_locked(question.campaign))
    question.delete()


# --- Markers on videos ------------------------------------------------------------------------
# Markers change no recorded data, only how the dashboard reads it, so they can be set at any time.


@transaction.atomic
def marker_create(*, variant: Variant, at_ms: int, kind: str, label: str = "") -> Marker:
    if variant.kind != Variant.Kind.VIDEO:
        raise ApplicationError(_("Markers belong on video variants."), extra={"field": "variant"})
    if kind not in Marker.Kind.values:
        raise ApplicationError(_("Choose what the marker shows."), extra={"field": "kind"})
    if at_ms < 0 or (variant.duration_ms and at_ms > variant.duration_ms):
        raise ApplicationError(_("The marker must lie within the video."), extra={"field": "at_ms"})
    return Marker.objects.create(variant=variant, at_ms=at_ms, kind=kind, label=label.strip()[:100])


def marker_delete(*, marker: Marker) -> None:
    marker.delete()


# --- Screener questions -----------------------------------------------------------------------


def _screener_values(campaign: Campaign, kind: str, text: str, choices: list[str] | None) -> dict[str, Any]:
    """A fixed kind left blank takes its default question and choices, in the campaign's language."""
    default_text, default_choices = screener_defaults(kind=kind, language=campaign.language)
    choices = [choice.strip() for choice in choices or [] if choice.strip()]
    return {"kind": kind, "text": text.strip() or default_text, "choices": choices or default_choices}


@transaction.atomic
def screener_question_add(
    *, campaign: Campaign, kind: str, text: str = "", choices: list[str] | None = None
) -> ScreenerQuestion:
    campaign = _locked(campaign)
    _ensure_draft(campaign, screener=True)
    question = ScreenerQuestion(
        campaign=campaign,
        position=campaign.screener_questions.count(),
        **_screener_values(campaign, kind, text, choices),
    )
    question.full_clean()
    question.save()
    return question


@transaction.atomic
def screener_question_update(
    *, question: ScreenerQuestion, kind: str, text: str = "", choices: list[str] | None = None
) -> ScreenerQuestion:
    campaign = _locked(question.campaign)
    _ensure_draft(campaign, screener=True)
    values = _screener_values(campaign, kind, text, choices)
    for name, value in values.items():
        setattr(question, name, value)
    question.full_clean()
    question.save(update_fields=list(values))
    return question


@transaction.atomic
def screener_question_delete(*, question: ScreenerQuestion) -> None:
    _ensure_draft(_locked(question.campaign), screener=True)
    question.delete()


# --- Invitations ------------------------------------------------------------------------------


@dataclass
class InvitationReport:
    invited: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # twice in this list
    already_invited: list[str] = field(default_factory=list)  # invited to this campaign before
    malformed: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # at the organisation's own domains, not confirmed
    workplace_confirmation: WorkplaceConfirmation | None = None


class WorkplaceConfirmationNeeded(ApplicationError):
    """The list holds addresses at the organisation's own e-mail domains, and the researcher has not
    confirmed that these testers are not its employees. Nothing was invited. `extra` holds what the
    warning shows: domains, count, addresses, others (how many would be invited without them) and
    the statement to confirm."""


def _queue_invitation_email(invitation_id: int, token: str) -> None:
    from campaigns.tasks import invitation_send_task

    # The raw token exists only in this message and the e-mail: the database keeps its hash.
    transaction.on_commit(lambda: invitation_send_task.delay(invitation_id, token))


def _ensure_inviting(campaign: Campaign) -> None:
    if campaign.status == Campaign.Status.CLOSED or campaign.archived_at is not None:
        raise ApplicationError(_("This campaign is closed: no one can be invited."), status_code=409)


def _new_addresses(campaign: Campaign, addresses: list[str], report: InvitationReport) -> list[str]:
    """The well-formed addresses not invited yet, in lower case and each once; the others go into
    the report with the reason."""
    new, seen = [], set()
    existing = set(campaign.invitations.values_list("email", flat=True))
    for raw in addresses:
        address = raw.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            report.malformed.append(address)
            continue
        key = address.lower()
        if key in seen:
            report.duplicates.append(address)
        elif key in existing:
            report.already_invited.append(address)
        else:
            seen.add(key)
            new.append(key)
    return new


def _outside_workplace(
    *,
    campaign: Campaign,
    addresses: list[str],
    invited_by: AbstractBaseUser | None,
    statement: str,
    leave_out: bool,
    report: InvitationReport,
) -> list[str]:
    """The addresses that may be invited. Those at the organisation's own domains need the
    researcher's confirmation, which is recorded; without it they are left out when asked to,
    else the whole list waits: a marketer presses Send once for one list, and half a list gone
    out while the other half waits would leave them to work out who got what."""
    domains = own_email_domains(organisation=campaign.organisation, researcher=invited_by)
    at_own = {address: own_domain_of(address, domains) for address in addresses}
    own = [address for address in addresses if at_own[address]]
    if not own:
        return addresses
    matched = list(dict.fromkeys(at_own[address] for address in own))
    needed = workplace_confirmation_statement(organisation=campaign.organisation, domains=matched, count=len(own))
    if statement and statement == needed:
        report.workplace_confirmation = WorkplaceConfirmation.objects.create(
            campaign=campaign,
            confirmed_by=invited_by,
            confirmed_by_name=invited_by.get_username(),
            domains=matched,
            address_count=len(own),
            statement=needed,
        )
        return addresses
    if leave_out:
        report.left_out = own
        return [address for address in addresses if not at_own[address]]
    values = {"count": len(own), "domains": ", ".join(matched), "organisation": campaign.organisation.name}
    raise WorkplaceConfirmationNeeded(
        ngettext(
            "%(count)s address is at %(domains)s, the e-mail domain of %(organisation)s itself. Emotion "
            "recognition at the workplace is prohibited (EU AI Act, Art. 5(1)(f)): invite it only if "
            "that person is not an employee and does not take part at their workplace. Nothing has been "
            "sent yet.",
            "%(count)s addresses are at %(domains)s, the e-mail domain of %(organisation)s itself. Emotion "
            "recognition at the workplace is prohibited (EU AI Act, Art. 5(1)(f)): invite them only if "
            "these people are not employees and do not take part at their workplace. Nothing has been "
            "sent yet.",
            len(own),
        )
        % values,
        extra={
            "domains": matched,
            "count": len(own),
            "addresses": own,
            "others": len(addresses) - len(own),
            "statement": needed,
        },
        status_code=409,
    )


@transaction.atomic
def invitations_create(
    *,
    campaign: Campaign,
    addresses: list[str],
    send: bool = True,
    invited_by: AbstractBaseUser | None = None,
    workplace_statement: str = "",
    leave_out_own_domain: bool = False,
) -> InvitationReport:
    """Invite each well-formed, new address once. Returns what was sent and what was not, and why.

    Addresses at the organisation's own e-mail domains (selectors.own_email_domains; without a
    configured list, the domain of `invited_by`'s own address) are invited only when
    `workplace_statement` is the one selectors.workplace_confirmation_statement gives for them, as
    `invited_by` confirmed it; that is recorded as a WorkplaceConfirmation. With
    `leave_out_own_domain` they are left out instead; otherwise WorkplaceConfirmationNeeded is raised
    before anything is written."""
    if workplace_statement and invited_by is None:
        raise TypeError("A workplace confirmation needs the researcher who gives it (invited_by).")
    campaign = _locked(campaign)
    _ensure_inviting(campaign)
    report = InvitationReport()
    new = _new_addresses(campaign, addresses, report)
    new = _outside_workplace(
        campaign=campaign,
        addresses=new,
        invited_by=invited_by,
        statement=workplace_statement,
        leave_out=leave_out_own_domain,
        report=report,
    )
    expires_at = timezone.now() + timedelta(days=campaign.invitation_ttl_days)
    for address in new:
        token, token_hash = new_token()
        invitation = Invitation.objects.create(
            campaign=campaign, email=address, token_hash=token_hash, expires_at=expires_at
        )
        if send:
            _queue_invitation_email(invitation.pk, token)
        report.invited.append(address)
    return report


@transaction.atomic
def invitation_resend(*, invitation: Invitation, send: bool = True) -> str:
    """Send a fresh link: the token rotates (the old link stops working) and the expiry restarts."""
    invitation = Invitation.objects.select_for_update().select_related("campaign").get(pk=invitation.pk)
    _ensure_inviting(invitation.campaign)
    testers = invitation.campaign.testers
    tester = testers.filter(invitation=invitation).first()
    if invitation.withdrawn_at or (tester and (tester.consented_at or tester.completed_at)):
        raise ApplicationError(_("This tester has already taken part or withdrawn."), status_code=409)
    token, token_hash = new_token()
    invitation.token_hash = token_hash
    invitation.expires_at = timezone.now() + timedelta(days=invitation.campaign.invitation_ttl_days)
    invitation.sent_at, invitation.send_error, invitation.revoked_at = None, "", None
    invitation.save(update_fields=["token_hash", "expires_at", "sent_at", "send_error", "revoked_at"])
    if tester is not None:
        testers.filter(pk=tester.pk).update(token_hash=token_hash)
    if send:
        _queue_invitation_email(invitation.pk, token)
    return token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """The link stops working; the row stays, so the address is not invited twice by mistake."""
    updated = Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    invitation.refresh_from_db(fields=["revoked_at"])
    if not updated and invitation.revoked_at is None:
        raise ApplicationError(_("This invitation could not be revoked."), status_code=409)
    return invitation


def invitation_send(*, invitation_id: int, token: str) -> bool:
    """Send one invitation e-mail. Idempotent: a conditional UPDATE claims the send, so a redelivered
    task or a token rotated in the meantime sends nothing. Returns whether a message went out."""
    from campaigns.emails import invitation_message
    from campaigns.tokens import hash_token

    token_hash = hash_token(token)
    claimed = Invitation.objects.filter(
        pk=invitation_id, token_hash=token_hash, sent_at__isnull=True, send_error="", revoked_at__isnull=True
    ).update(sent_at=timezone.now())
    if not claimed:
        return False
    invitation = Invitation.objects.select_related("campaign").get(pk=invitation_id)
    try:
        invitation_message(invitation=invitation, token=token).send()
    except Exception as error:  # any hand-over failure is the outcome: shown as "bounced", resend retries
        Invitation.objects.filter(pk=invitation_id, token_hash=token_hash).update(
            sent_at=None, send_error=f"{type(error).__name__}: {error}"[:500]
        )
        return False
    return True


# --- Open link --------------------------------------------------------------------------------


@transaction.atomic
def open_link_create(*, campaign: Campaign, quota: int) -> str:
    """A new open link (the previous one stops working). Returns the token: it is shown once."""
    locked = _locked(campaign)
    _ensure_inviting(locked)
    if quota < 1:
        raise ApplicationError(_("The quota must be at least 1."))
    token, token_hash = new_token()
    locked.open_link_token_hash, locked.open_link_quota = token_hash, quota
    locked.save(update_fields=["open_link_token_hash", "open_link_quota", "updated_at"])
    # The page right after shows the new link and its quota from the caller's object.
    campaign.open_link_token_hash, campaign.open_link_quota = token_hash, quota
    return token


@transaction.atomic
def open_link_disable(*, campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    campaign.open_link_token_hash = ""
    campaign.save(update_fields=["open_link_token_hash", "updated_at"])
    return campaign


# --- Retention ------------------------------------------------------------------------------

ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: can never reach anyone


@transaction.atomic
def invitations_erase_expired(*, now: datetime | None = None) -> int:
    """Replace the e-mail address of invitations that expired more than INVITATION_ERASE_AFTER_DAYS
    ago by a placeholder (unique per row, because (campaign, email) is unique). The pseudonymous
    tester, if any, stays; nothing links it to a person any more. Returns the rows erased."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MIMIK["INVITATION_ERASE_AFTER_DAYS"])
    expired = Invitation.objects.filter(expires_at__lt=cutoff).exclude(email__endswith="@" + ERASED_EMAIL_DOMAIN)
    return expired.update(
        email=Concat(Value("erased-"), Cast("id", CharField()), Value("@" + ERASED_EMAIL_DOMAIN)), send_error=""
    )
