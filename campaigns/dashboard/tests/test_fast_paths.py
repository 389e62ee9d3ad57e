"""The calibrated dashboard's fast paths (trigger-kept sums, the range of confident frames) give the
same page as counting every prediction, which is what the dashboard does on databases without the
triggers: compared here on one campaign with video variants and an excluded tester."""

from __future__ import annotations

import pytest

from campaigns.dashboard import selectors
from campaigns.dashboard.selectors import dashboard_data
from campaigns.models import Variant
from inference.models import Prediction

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
        patch.setattr(selectors, "sums_available", lambda: False)  # a GROUP BY over every prediction
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
    assert selectors.active_calibration(fixed.model) is not None  # so every prediction here is stale
    with_sums = dashboard_data(campaign=fixed.campaign)

    without_sums = reference_data(monkeypatch, fixed.campaign, fixed.campaign.confidence_threshold)

    assert without_sums["calibration"]["stale_frames"] == 57
    b = next(row for row in without_sums["variants"] if row["label"] == "B")
    assert next(c for c in b["classes"] if c["class_name"] == "happy")["count"] == 16  # by hand, see conftest
    assert without_sums["frames"]["high_confidence"] == 56
    assert rounded(without_sums) == rounded(with_sums)
