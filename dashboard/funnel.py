"""The frame funnel: how many frames were received, are waiting, showed a face, passed the quality
gates and were counted with confidence, and how many ended with each outcome."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection
from typing import Any

from django.db.models import Count, Exists, OuterRef

from campaigns.models import Campaign
from dashboard import counting
from dashboard.matrix import TesterMatrix
from sessions.models import Frame, FrameOutcomeCount, Tester

# A face was found (exactly one) for these outcomes, whatever quality said afterwards.
FACE_FOUND_OUTCOMES = (
    Frame.Outcome.PREDICTION,
    Frame.Outcome.FACE_TOO_SMALL,
    Frame.Outcome.TOO_DARK,
    Frame.Outcome.OVEREXPOSED,
    Frame.Outcome.BLURRED,
)


def frame_outcomes(
    campaign: Campaign, testers: Collection[uuid.UUID] | None = None
) -> tuple[dict[str, int], set[uuid.UUID]]:
    """Frames per outcome, and the testers who sent any frame; of `testers` only (an audience) when
    given. Where PostgreSQL keeps tester_sessions.FrameOutcomeCount, the analysed frames from its
    rows (a few per tester) and the pending ones from the frames that wait (the (campaign, outcome)
    index); elsewhere a count of every frame and one index probe per tester."""
    outcomes = dict.fromkeys(Frame.Outcome.values, 0)
    of_testers = {} if testers is None else {"tester_id__in": list(testers)}
    if counting.sums_available():
        counted = FrameOutcomeCount.objects.filter(campaign=campaign, frames__gt=0, **of_testers).values_list(
            "tester_id", "outcome", "frames"
        )
        waiting = (
            Frame.objects.filter(campaign=campaign, outcome=Frame.Outcome.PENDING, **of_testers)
            .values_list("tester_id", "outcome")
            .annotate(n=Count("*"))
            .order_by()
        )
        senders = set()
        for tester_id, outcome, frames in itertools.chain(counted, waiting):
            outcomes[outcome] += frames
            senders.add(tester_id)
        return outcomes, senders
    rows = Frame.objects.filter(campaign=campaign, **of_testers).values_list("outcome").annotate(n=Count("*"))
    outcomes.update(dict(rows.order_by()))
    senders = set(
        Tester.objects.filter(campaign=campaign, **({} if testers is None else {"pk__in": list(testers)}))
        .filter(Exists(Frame.objects.filter(tester=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    return outcomes, senders


def funnel(outcomes: dict[str, int], matrix: TesterMatrix | None) -> dict[str, Any]:
    high_confidence = int(matrix.counts.sum()) if matrix is not None else 0
    return {
        "received": sum(outcomes.values()),
        "pending": outcomes.get(Frame.Outcome.PENDING, 0),
        "face_found": sum(outcomes.get(outcome, 0) for outcome in FACE_FOUND_OUTCOMES),
        "passed_quality": outcomes.get(Frame.Outcome.PREDICTION, 0),
        "high_confidence": high_confidence,
        "outcomes": [
            {"outcome": value, "label": str(label), "frames": outcomes.get(value, 0)}
            for value, label in Frame.Outcome.choices
        ],
    }
