"""Reads about the campaign's testers for the dashboard: the progress funnel, and who counts for the
emotion numbers, with the reason each of the others does not count yet.

One read of the tester rows serves the funnel, these reasons and the order effect. The reasons come
from the frames that have no prediction (waiting for analysis, or refused: no face, too dark, ...):
one GROUP BY through the (campaign, outcome) index, which skips the analysed frames altogether, and
only while some consented tester is not counted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from campaigns.models import Campaign, Invitation, Variant
from dashboard.wording import tester_counting_sentences
from sessions.models import Frame, Tester

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix

# Why a tester who consented is not counted yet, in the order they are checked.
NOT_FINISHED = "watching"  # still on the way through the advertisements
WAITING = "pending"  # snapshots still waiting for analysis
REFUSED = "rejected"  # no face found, or refused by a quality gate
TOO_FEW_ARRIVED = "missing"  # finished, nothing waiting or refused, and still too few
REASONS = (NOT_FINISHED, WAITING, REFUSED, TOO_FEW_ARRIVED)
NO_CAMERA = (Tester.Camera.DENIED, Tester.Camera.UNAVAILABLE)
UNANALYSED_OUTCOMES = [value for value in Frame.Outcome.values if value != Frame.Outcome.PREDICTION]

Cell = tuple[uuid.UUID, uuid.UUID]  # tester, variant


@dataclass(frozen=True)
class TesterRow:
    id: uuid.UUID
    invitation_id: int | None
    consented: bool
    completed: bool
    camera: str
    variant_order: list[str]


def campaign_testers(campaign: Campaign) -> list[TesterRow]:
    """Whether each consented and completed, not when: turning 2,000 timestamps into aware datetimes
    would cost more than the rest of this read."""
    rows = (
        Tester.objects.filter(campaign=campaign)
        .annotate(
            consented=ExpressionWrapper(Q(consented_at__isnull=False), output_field=BooleanField()),
            completed=ExpressionWrapper(Q(completed_at__isnull=False), output_field=BooleanField()),
        )
        .values_list("id", "invitation_id", "consented", "completed", "camera", "variant_order")
    )
    return [TesterRow(*row) for row in rows]


def progress_summary(campaign: Campaign, testers: list[TesterRow]) -> dict[str, int]:
    """Invitations, and the testers themselves. Someone who came by the open link has no invitation
    row: the link invited them and they opened it, so they count in both."""
    invitations = Invitation.objects.filter(campaign=campaign).aggregate(
        invited=Count("id", filter=Q(revoked_at__isnull=True)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        withdrawn=Count("id", filter=Q(withdrawn_at__isnull=False)),
    )
    open_link = sum(1 for tester in testers if tester.invitation_id is None)
    return {
        "invited": invitations["invited"] + open_link,
        "opened": invitations["opened"] + open_link,
        "withdrawn": invitations["withdrawn"],
        "consented": sum(1 for tester in testers if tester.consented),
        "completed": sum(1 for tester in testers if tester.completed),
    }


def unanalysed_frames(campaign: Campaign) -> dict[Cell, tuple[int, int]]:
    """Per (tester, variant): frames waiting for analysis, and frames refused (no face, quality)."""
    rows = (
        Frame.objects.filter(campaign=campaign, outcome__in=UNANALYSED_OUTCOMES)
        .values_list("tester_id", "variant_id")
        .annotate(
            waiting=Count("pk", filter=Q(outcome=Frame.Outcome.PENDING)),
            refused=Count("pk", filter=~Q(outcome=Frame.Outcome.PENDING)),
        )
        .order_by()
    )
    return {(tester_id, variant_id): (waiting, refused) for tester_id, variant_id, waiting, refused in rows}


def tester_counting(
    *,
    campaign: Campaign,
    testers: list[TesterRow],
    matrix: TesterMatrix | None,
    variants: list[Variant],
    senders: set[uuid.UUID],
) -> dict[str, Any]:
    """How many consented testers count for the emotion numbers, and why each other one does not
    (yet), in numbers and in plain words. Survey answers count for everyone regardless."""
    minimum = max(1, campaign.min_frames_per_tester)
    unanalysed: dict[Cell, tuple[int, int]] | None = None  # read once someone needs explaining
    row_of = {tester_id: row for row, tester_id in enumerate(matrix.tester_ids)} if matrix is not None else {}
    counted, survey_only = 0, 0
    not_counted = dict.fromkeys(REASONS, 0)
    for tester in testers:
        if not tester.consented:
            continue
        row = row_of.get(tester.id)
        if row is not None and matrix.included[row]:
            counted += 1
        elif tester.camera in NO_CAMERA and tester.id not in senders:
            survey_only += 1
        else:
            if unanalysed is None:
                unanalysed = unanalysed_frames(campaign)
            not_counted[_reason(tester, row, matrix, variants, unanalysed, minimum)] += 1
    return {
        "not_counted": not_counted,
        "survey_only": survey_only,
        **tester_counting_sentences(counted=counted, not_counted=not_counted, survey_only=survey_only, minimum=minimum),
    }


def _reason(
    tester: TesterRow,
    row: int | None,
    matrix: TesterMatrix | None,
    variants: list[Variant],
    unanalysed: dict[Cell, tuple[int, int]],
    minimum: int,
) -> str:
    """Only the advertisements short of the minimum tell why: frames waiting there may still make
    it; refused ones will not."""
    if not tester.completed:
        return NOT_FINISHED
    short = [
        unanalysed.get((tester.id, variant.pk), (0, 0))
        for v, variant in enumerate(variants)
        if row is None or matrix.analysed[row, v] < minimum
    ]
    if any(waiting for waiting, _refused in short):
        return WAITING
    if any(refused for _waiting, refused in short):
        return REFUSED
    return TOO_FEW_ARRIVED
