"""The calibrated dashboard's fast paths (trigger-kept sums, the range of confident frames) give the
same page as counting every prediction, which is what the dashboard does on databases without the
triggers: compared here on one campaign with video variants and an excluded tester."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Variant
from dashboard import counting
from dashboard.funnel import frame_outcomes
from dashboard.selectors import dashboard_data
from inference.models import Prediction
from inference.pipeline import FrameAnalysis
from inference.selectors import FRAME_FIELDS_FOR_ANALYSIS
from inference.services import FrameToRecord, frames_expire_stale, frames_record_analyses
from sessions import models as session_models
from sessions import services as tester_services
from sessions.models import Frame

from .conftest import add_frame
from .test_calibrated import calibrated_campaign  # noqa: F401  (fixture)


def rounded(value):
    """Floats to 9 places: the means are exact decimal sums here and float AVGs there."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def reference_data(monkeypatch, campaign, threshold: float) -> dict:
    with monkeypatch.context() as patch:
        patch.setattr(counting, "sums_available", lambda: False)  # a GROUP BY over every prediction
        return dashboard_data(campaign=campaign, threshold=threshold)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.8])
def test_fast_paths_give_the_same_page_as_counting_every_prediction(calibrated_campaign, monkeypatch, threshold):  # noqa: F811
    generated, _calibration = calibrated_campaign
    campaign = generated.campaign
    Variant.objects.filter(campaign=campaign).update(kind=Variant.Kind.VIDEO, duration_ms=60_000)
    campaign.capture_interval_seconds = 3
    campaign.min_frames_per_tester = 5
    campaign.save(update_fields=["capture_interval_seconds", "min_frames_per_tester"])
    # One tester without variant B and one with too few frames on it: both excluded.
    testers = Prediction.objects.filter(campaign=campaign).values_list("tester_id", flat=True).distinct()
    first, second = list(testers.order_by("tester_id")[:2])
    variant_b = generated.variants[1]
    Prediction.objects.filter(tester_id=first, variant=variant_b).delete()
    Prediction.objects.filter(tester_id=second, variant=variant_b).exclude(
        pk__in=Prediction.objects.filter(tester_id=second, variant=variant_b).values("pk")[:3]
    ).delete()

    fast = dashboard_data(campaign=campaign, threshold=threshold)
    reference = reference_data(monkeypatch, campaign, threshold)

    assert fast["testers"]["excluded"] == 2
    assert fast["timeline"]["variants"][0]["bins"]
    assert rounded(fast) == rounded(reference)


@pytest.mark.django_db
def test_without_the_sums_stale_predictions_count_on_their_raw_values(fixed, monkeypatch):
    """Where the trigger-kept sums are missing (SQLite, as `make run` serves), predictions not yet
    recomputed with the active calibration still count on their raw values: the same page."""
    assert counting.active_calibration(fixed.model) is not None  # so every prediction here is stale
    with_sums = dashboard_data(campaign=fixed.campaign)

    without_sums = reference_data(monkeypatch, fixed.campaign, fixed.campaign.confidence_threshold)

    assert without_sums["calibration"]["stale_frames"] == 57
    b = next(row for row in without_sums["variants"] if row["label"] == "B")
    assert next(c for c in b["classes"] if c["class_name"] == "happy")["count"] == 16  # by hand, see conftest
    assert without_sums["frames"]["high_confidence"] == 56
    assert rounded(without_sums) == rounded(with_sums)


def outcomes_both_ways(monkeypatch, campaign) -> tuple:
    fast = frame_outcomes(campaign)
    with monkeypatch.context() as patch:
        patch.setattr(counting, "sums_available", lambda: False)  # count every frame
        return fast, frame_outcomes(campaign)


@pytest.mark.django_db
def test_the_funnel_counts_every_frame_through_uploads_analyses_expiry_and_withdrawal(fixed, monkeypatch):
    """The frame counts kept by the triggers follow every way a frame is written: stored pending
    (an upload), claimed by the worker's one statement, expired by the backstop, stored with an
    outcome already, deleted with a withdrawn tester."""
    campaign, a, b = fixed.campaign, fixed.a, fixed.b
    others = frame_outcomes(campaign)[0]  # the fixture's testers' frames
    tester = session_models.Tester.objects.create(campaign=campaign, token_hash="funnel-counts")
    uploads = [
        Frame.objects.create(campaign=campaign, tester=tester, variant=a, sequence=n, media_time_ms=n * 1000)
        for n in range(5)
    ]
    fast, every = outcomes_both_ways(monkeypatch, campaign)
    assert fast == every
    assert tester.pk in fast[1] and fast[0][Frame.Outcome.PENDING] == 5

    rows = Frame.objects.filter(pk__in=[f.pk for f in uploads[:3]]).values(*FRAME_FIELDS_FOR_ANALYSIS)
    analysed = [FrameToRecord(row, FrameAnalysis(Frame.Outcome.NO_FACE, {}), None, None) for row in rows]
    assert len(frames_record_analyses(items=analysed)) == 3
    assert frames_record_analyses(items=analysed) == set()  # a redelivery changes nothing
    Frame.objects.filter(pk=uploads[3].pk).update(received_at=timezone.now() - timedelta(days=1))
    assert frames_expire_stale(older_than=timedelta(hours=1)) == 1
    add_frame(tester, b, 0, "happy", 0.9)  # stored with its outcome

    fast, every = outcomes_both_ways(monkeypatch, campaign)
    assert fast == every
    added = {outcome: n - others[outcome] for outcome, n in fast[0].items() if n != others[outcome]}
    assert added == {"pending": 1, "no_face": 3, "expired": 1, "prediction": 1}

    tester_services.tester_withdraw(tester=tester)
    fast, every = outcomes_both_ways(monkeypatch, campaign)
    assert fast == every
    assert tester.pk not in fast[1]
    assert fast[0] == others
