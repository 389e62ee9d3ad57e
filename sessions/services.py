"""Writes for the tester's journey: joining, consent, viewing order, snapshots, answers, withdrawal."""

from __future__ import annotations

import io
import random
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image
from rest_framework import status

from campaigns.live import publish_progress_event
from campaigns.media_validation import POLYGLOT_MARKERS
from campaigns.models import Campaign, Invitation, ScreenerQuestion, SurveyQuestion, Variant
from campaigns.selectors import current_consent
from campaigns.tokens import new_token
from config.errors import ApplicationError
from sessions import selectors
from sessions.analysis_queue import QueueUnavailable, baseline_submit_for_analysis, frame_submit_for_analysis
from sessions.models import BaselineSnapshot, Frame, ScreenerAnswer, SurveyAnswer, Tester

QUEUE_RETRY_AFTER_SECONDS = 5
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_END = b"\xff\xd9"
PNG_END = b"IEND\xaeB`\x82"
# Snapshots the camera page takes of each kind of baseline, one a second (the sequence numbers
# 0..n-1 are all the server accepts, so a tester has at most this many rows of each kind).
BASELINE_SNAPSHOTS = {
    BaselineSnapshot.Kind.RESTING: 3,
    BaselineSnapshot.Kind.POSED_SMILE: 2,
    BaselineSnapshot.Kind.POSED_NEUTRAL: 2,
}
POSED_KINDS = (BaselineSnapshot.Kind.POSED_SMILE, BaselineSnapshot.Kind.POSED_NEUTRAL)


def williams_rows(count: int) -> list[list[int]]:
    """A balanced Latin square (Williams design) over `count` items: every item appears once in
    each position and follows every other item equally often. Odd counts need the mirrored rows too."""
    if count <= 0:
        return [[]]
    first, low, high = [0], 1, count - 1
    while len(first) < count:
        first.append(low)
        low += 1
        if len(first) < count:
            first.append(high)
            high -= 1
    rows = [[(item + shift) % count for item in first] for shift in range(count)]
    if count % 2:
        rows += [list(reversed(row)) for row in rows]
    return rows


def tester_create_for_invitation(*, invitation: Invitation) -> Tester:
    """First visit of an invitation link: a pseudonymous tester sharing the invitation's token hash."""
    try:
        with transaction.atomic():
            tester = Tester.objects.create(
                campaign=invitation.campaign, invitation=invitation, token_hash=invitation.token_hash
            )
            Invitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(opened_at=timezone.now())
            publish_progress_event(invitation.campaign_id)
    except IntegrityError:  # two tabs opened the link at once; the other one created the tester
        tester = Tester.objects.get(token_hash=invitation.token_hash)
    return Tester.objects.select_related("campaign", "invitation").get(pk=tester.pk)


@transaction.atomic
def tester_create_for_open_link(*, campaign: Campaign) -> tuple[Tester, str]:
    """A new tester from the campaign's open link, while the quota lasts. Returns (tester, token)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if Tester.objects.filter(campaign=campaign, invitation__isnull=True).count() >= campaign.open_link_quota:
        raise ApplicationError(_("This study has all the participants it needs."), status_code=status.HTTP_410_GONE)
    token, token_hash = new_token()
    publish_progress_event(campaign.pk)
    return Tester.objects.create(campaign=campaign, token_hash=token_hash), token


class ConsentChanged(ApplicationError):
    """The consent text changed between showing the start page and the tester agreeing."""

    def __init__(self) -> None:
        super().__init__(
            _("The consent text has changed since you opened this page. Please read it again."),
            status_code=status.HTTP_409_CONFLICT,
        )


@transaction.atomic
def tester_consent(
    *,
    tester: Tester,
    shown_version_id: int | None = None,
    shown_fingerprint: str | None = None,
    shown_posed: bool | None = None,
) -> Tester:
    """Record consent to the consent text the tester was shown and fix this tester's viewing order.

    The start page's form carries the version it showed and its text's fingerprint
    (selectors.consent_fingerprint); unless that version is still the current one with the same
    words, nothing is recorded and ConsentChanged (409) is raised. Leaving both out (scripts and
    tests that create testers directly) accepts the current version.

    Posed expressions are asked for later only if the page said so (`shown_posed`; None: as the
    campaign is set now) and the campaign still wants them: a researcher switching them on after
    the page was shown never reaches a tester who was not told."""
    campaign = Campaign.objects.select_for_update().get(pk=tester.campaign_id)
    tester = Tester.objects.select_for_update().get(pk=tester.pk)
    if tester.consented_at is not None or tester.declined_at is not None:
        return tester
    # The campaign row lock also orders this after any consent edit in campaign_update (which
    # holds the same lock), so the text compared here is the text stored with the consent.
    current = current_consent(campaign=campaign)
    if shown_version_id is not None or shown_fingerprint is not None:
        shown_current = (
            current is not None
            and current.pk == shown_version_id
            and shown_fingerprint == selectors.consent_fingerprint(current.text)
        )
        if not shown_current:
            raise ConsentChanged()
    tester.consent_version = current
    tester.consented_at = timezone.now()
    tester.posed_expressions = campaign.posed_expressions and shown_posed is not False
    variant_ids = [str(pk) for pk in Variant.objects.filter(campaign=campaign).values_list("pk", flat=True)]
    # Slots come from the campaign's counter (under the row lock above), not from a count of the
    # consented testers: a withdrawal deletes its tester and a count would reuse that slot.
    tester.order_slot = campaign.next_order_slot
    Campaign.objects.filter(pk=campaign.pk).update(next_order_slot=F("next_order_slot") + 1)
    if campaign.order_mode == Campaign.OrderMode.RANDOM:
        tester.variant_order = random.sample(variant_ids, len(variant_ids))
    else:
        rows = williams_rows(len(variant_ids))
        tester.variant_order = [variant_ids[index] for index in rows[tester.order_slot % len(rows)]]
    tester.save(update_fields=["consent_version", "consented_at", "order_slot", "variant_order", "posed_expressions"])
    publish_progress_event(campaign.pk)
    return tester


@transaction.atomic
def tester_decline(*, tester: Tester) -> None:
    """Declining records the moment only: no order, no camera state, nothing else."""
    Tester.objects.filter(pk=tester.pk, consented_at__isnull=True).update(declined_at=timezone.now())
    publish_progress_event(tester.campaign_id)


@transaction.atomic
def tester_reconsider(*, tester: Tester) -> None:
    """A tester who declined (by mistake) is back on the consent page: the decline is forgotten, and
    agreeing then works like a first visit. Nothing else was recorded, so nothing else is undone."""
    Tester.objects.filter(pk=tester.pk, consented_at__isnull=True, declined_at__isnull=False).update(declined_at=None)
    publish_progress_event(tester.campaign_id)


@transaction.atomic
def screener_answers_submit(*, tester: Tester, answers: dict[int, str]) -> None:
    """Store the tester's answers to their campaign's screener questions, all at once: every question
    needs one of its own choices. Answers given before (a second tab) stay as they were."""
    questions = list(ScreenerQuestion.objects.filter(campaign_id=tester.campaign_id))
    for question in questions:
        if answers.get(question.pk) not in question.choices:
            raise ApplicationError(_("Please answer every question."), extra={"question": question.pk})
    ScreenerAnswer.objects.bulk_create(
        [ScreenerAnswer(tester=tester, question=question, choice=answers[question.pk]) for question in questions],
        ignore_conflicts=True,
    )


@transaction.atomic
def tester_camera_set(*, tester: Tester, camera: str) -> None:
    if camera not in {Tester.Camera.GRANTED, Tester.Camera.DENIED, Tester.Camera.UNAVAILABLE}:
        raise ApplicationError(_("Unknown camera state."))
    Tester.objects.filter(pk=tester.pk, consented_at__isnull=False).update(camera=camera)
    publish_progress_event(tester.campaign_id)


@transaction.atomic
def tester_variant_viewed(*, tester: Tester, variant_id: str) -> None:
    """Move on from watching to the survey, once: a conditional update, so a double submit is harmless.
    A campaign without questions has no survey to show: the tester goes straight on."""
    index = tester.viewed_count
    if index >= len(tester.variant_order) or tester.variant_order[index] != str(variant_id):
        return
    moved = Tester.objects.filter(pk=tester.pk, viewed_count=index, answered_count=index).update(viewed_count=index + 1)
    if moved and not SurveyQuestion.objects.filter(campaign_id=tester.campaign_id).exists():
        survey_answers_submit(tester=tester, variant_id=str(variant_id), answers={})


@transaction.atomic
def survey_answers_submit(*, tester: Tester, variant_id: str, answers: dict[int, int | str | None]) -> None:
    """Store the answers about one variant (already validated by the form) and advance the tester."""
    index = tester.answered_count
    if index >= len(tester.variant_order) or tester.variant_order[index] != str(variant_id):
        return
    claimed = Tester.objects.filter(pk=tester.pk, viewed_count=index + 1, answered_count=index).update(
        answered_count=F("answered_count") + 1
    )
    if not claimed:
        return
    questions = SurveyQuestion.objects.filter(campaign_id=tester.campaign_id, pk__in=answers.keys())
    rows = []
    for question in questions.order_by("position", "id"):
        value = answers[question.pk]
        is_scale = question.kind == SurveyQuestion.Kind.SCALE
        if is_scale and value is not None and not question.scale_min <= int(value) <= question.scale_max:
            raise ApplicationError(_("An answer is outside its scale."), extra={"question": question.pk})
        rows.append(
            SurveyAnswer(
                tester=tester,
                variant_id=variant_id,
                question=question,
                rating=int(value) if is_scale and value is not None else None,
                comment="" if is_scale or value is None else str(value),
            )
        )
    SurveyAnswer.objects.bulk_create([row for row in rows if row.rating is not None or row.comment])
    if index + 1 == len(tester.variant_order):
        Tester.objects.filter(pk=tester.pk).update(completed_at=timezone.now())
        publish_progress_event(tester.campaign_id)


def _refuse(message: str, status_code: int = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE) -> ApplicationError:
    return ApplicationError(message, status_code=status_code)


def _jpeg_header(image_bytes: bytes) -> tuple[int, int]:
    """(bytes in APPn/COM segments, offset where the pixel data starts) of a JPEG."""
    offset, metadata = 2, 0
    while offset + 4 <= len(image_bytes) and image_bytes[offset] == 0xFF:
        marker = image_bytes[offset + 1]
        if marker == 0xDA:  # start of scan: the pixels follow
            break
        length = int.from_bytes(image_bytes[offset + 2 : offset + 4], "big")
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            metadata += length
        offset += 2 + length
    return metadata, offset


def snapshot_check(*, image_bytes: bytes) -> None:
    """415 unless the bytes really are one plain JPEG or PNG (by content, not by the name or header
    sent): complete, of webcam size, with no large metadata block, no markup in it and nothing
    appended after the image (the polyglot trick). Only the header and the tail are searched for
    markup: compressed pixels contain any byte sequence now and then. Only the header is parsed
    (the pixel count, against decompression bombs): the pixels are decoded once, by the worker,
    which records a damaged image as `undecodable`."""
    if image_bytes.startswith(JPEG_MAGIC):
        metadata, header_end = _jpeg_header(image_bytes)
        if metadata > settings.MIMIK["FRAME_MAX_METADATA_BYTES"]:
            raise _refuse(_("The snapshot carries too much metadata."))
        complete = image_bytes.endswith(JPEG_END)
    elif image_bytes.startswith(PNG_MAGIC):
        header_end = max(image_bytes.find(b"IDAT"), 0)
        complete = image_bytes.endswith(PNG_END)
    else:
        raise _refuse(_("Snapshots must be JPEG or PNG images."))
    if not complete or POLYGLOT_MARKERS.search(image_bytes[:header_end]):
        raise _refuse(_("The snapshot is incomplete or has something other than an image in it."))
    try:
        with Image.open(io.BytesIO(image_bytes), formats=["JPEG", "PNG"]) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise _refuse(_("The snapshot is not a readable image.")) from error
    if width * height > settings.MIMIK["FRAME_MAX_PIXELS"]:
        raise _refuse(_("The snapshot has too many pixels."), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def frame_accept(
    *,
    tester: Tester,
    variant_id: str,
    sequence: int,
    media_time_ms: int,
    captured_at: datetime | None,
    image_bytes: bytes,
) -> Frame | None:
    """Store one snapshot's row and hand the image to the inference queue. None for a repeat.

    `tester` may send snapshots (sessions.access.get_tester_for_upload). Every refusal happens
    before anything is stored. The row commits on its own (one INSERT in autocommit, as the upload
    request runs) BEFORE the image is queued, so a worker never looks for a missing row; if the
    broker refuses, the row goes again and the page retries on 503. The image is never written to
    disk here.
    """
    # The viewing order was made from the campaign's own variants at consent: no query needed.
    if str(variant_id) not in tester.variant_order:
        raise ApplicationError(_("This variant is not part of your test."), extra={"field": "variant"})
    snapshot_check(image_bytes=image_bytes)
    key = {"tester_id": tester.pk, "variant_id": variant_id, "sequence": sequence}
    try:
        frame = Frame.objects.create(
            **key,
            campaign_id=tester.campaign_id,
            media_time_ms=media_time_ms,
            captured_at=captured_at,
            byte_size=len(image_bytes),
        )
    except IntegrityError as error:
        if Frame.objects.filter(**key).exists():  # the unique (tester, variant, sequence): a client retry
            return None
        # The variant was deleted since the tester consented.
        raise ApplicationError(_("This variant is not part of your test."), extra={"field": "variant"}) from error
    try:
        frame_submit_for_analysis(frame_id=frame.pk, image_bytes=image_bytes)
    except QueueUnavailable as error:
        Frame.objects.filter(pk=frame.pk).delete()
        raise _queue_busy() from error
    return frame


def _queue_busy() -> ApplicationError:
    """The broker did not take a snapshot: 503, and the page sends it again after Retry-After."""
    return ApplicationError(
        _("The analysis queue is busy; please retry."),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(QUEUE_RETRY_AFTER_SECONDS)},
    )


def baseline_snapshot_accept(
    *, tester: Tester, kind: str, sequence: int, captured_at: datetime | None, image_bytes: bytes
) -> BaselineSnapshot | None:
    """Store one baseline snapshot's row, then queue the image for analysis (503 and the row goes
    again if the broker refuses, as for a frame). None for a repeat (the same kind and sequence again: a client retry).

    The same checks as a frame (consent, a running campaign, a real JPEG or PNG) plus the kind's
    own: at most BASELINE_SNAPSHOTS of it, and posed ones only from a tester whose consent page
    asked for them while the campaign still does. The image travels in the task message only: it
    is never written to disk, even for campaigns that keep their frames. `tester` may send
    snapshots (sessions.access.get_tester_for_upload)."""
    if kind not in BASELINE_SNAPSHOTS or not 0 <= sequence < BASELINE_SNAPSHOTS[kind]:
        raise ApplicationError(_("Not a snapshot this page takes."), extra={"field": "kind"})
    if kind in POSED_KINDS and not selectors.tester_asked_for_posed(tester=tester):
        raise ApplicationError(_("You were not asked for posed expressions."), extra={"field": "kind"})
    snapshot_check(image_bytes=image_bytes)
    try:
        with transaction.atomic():
            snapshot = BaselineSnapshot.objects.create(
                campaign_id=tester.campaign_id,
                tester_id=tester.pk,
                kind=kind,
                sequence=sequence,
                captured_at=captured_at,
                byte_size=len(image_bytes),
            )
    except IntegrityError:  # the unique (tester, kind, sequence): this one arrived before
        return None

    try:
        # After the INSERT committed (the upload request runs in autocommit), as frame_accept does.
        baseline_submit_for_analysis(snapshot_id=snapshot.pk, image_bytes=image_bytes)
    except QueueUnavailable as error:
        BaselineSnapshot.objects.filter(pk=snapshot.pk).delete()
        raise _queue_busy() from error
    return snapshot


@transaction.atomic
def tester_withdraw(*, tester: Tester) -> None:
    """Delete everything about the tester (frames, predictions, baseline snapshots and answers
    cascade) and mark the invitation."""
    invitation_id = tester.invitation_id
    # Lock every frame of the tester before reading which files it kept: a worker recording one of
    # them holds its row, and may have written its kept snapshot, until it commits. Waiting here
    # reads that file's name too (the DELETE below would wait anyway, but the file would be missing
    # from this list and stay on disk with no row naming it). No kept_image filter in SQL: a row
    # that had none when the scan began would not be waited for.
    frames = Frame.objects.select_for_update().filter(tester=tester).only("pk", "kept_image")
    kept = [frame.kept_image for frame in frames if frame.kept_image]
    Tester.objects.filter(pk=tester.pk).delete()
    publish_progress_event(tester.campaign_id)
    # Kept snapshots (campaigns that opted in) are files: remove them once the rows are surely gone.
    for image in kept:
        transaction.on_commit(lambda image=image: image.storage.delete(image.name))
    if invitation_id is not None:
        # The invitation row stays so the researcher sees "withdrawn"; the address that tied it to
        # a person goes (unique per row, because (campaign, email) is unique).
        Invitation.objects.filter(pk=invitation_id).update(
            withdrawn_at=timezone.now(), email=f"withdrawn-{invitation_id}@erased.invalid", send_error=""
        )
