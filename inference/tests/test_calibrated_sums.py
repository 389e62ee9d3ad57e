"""inference.CalibratedSum, kept by triggers on inference_prediction: whatever writes predictions
(the worker's INSERT, the recompute's bulk_update, a plain UPDATE, a withdrawal's cascade), the
sums equal an aggregate over the predictions themselves, and the rebuild gives the same rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count, FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from inference import calibrations
from inference.models import CalibratedSum, MediaTimeFrames, Prediction
from inference.tests.generated import CLASS_NAMES, generated_campaign, store_calibration, unloadable_model
from sessions import services as session_services

SHARES = {"A": [0.05, 0.02, 0.08, 0.3, 0.25, 0.1, 0.2], "B": [0.05, 0.02, 0.08, 0.5, 0.1, 0.05, 0.2]}


@pytest.fixture
def recompute_in_process(monkeypatch):
    monkeypatch.setattr(
        calibrations.recalibrate_predictions,
        "apply_async",
        lambda args, **_options: calibrations.predictions_recalibrate(model_version_id=args[0]),
    )
    calibrations.forget_cached_calibrations()


def stored_sums(model) -> dict[tuple, tuple[int, Decimal]]:
    return {
        (row.calibration_version, row.tester_id, row.variant_id, row.class_name): (row.frames, row.total)
        for row in CalibratedSum.objects.filter(model_version=model)
    }


def media_times(model) -> tuple[dict, dict]:
    """MediaTimeFrames as stored, and counted from the predictions."""
    stored = {
        (row.variant_id, row.media_time_ms): row.frames for row in MediaTimeFrames.objects.filter(model_version=model)
    }
    counted = (
        Prediction.objects.filter(model_version=model)
        .values_list("variant_id", "media_time_ms")
        .annotate(n=Count("*"))
        .order_by()
    )
    return stored, {(variant_id, media_time_ms): n for variant_id, media_time_ms, n in counted}


def sums_of_predictions(model) -> dict[tuple, tuple[int, Decimal]]:
    """The same numbers straight from the predictions' JSON (6 decimals, so exact as Decimal), and
    under the empty class name the count of every prediction."""
    expected: dict[tuple, tuple[int, Decimal]] = {}
    rows = Prediction.objects.filter(model_version=model)
    for version, tester_id, variant_id, probabilities in rows.values_list(
        "calibration_version", "tester_id", "variant_id", "calibrated_probabilities"
    ):
        for class_name, value in [("", 0), *(probabilities or {}).items()]:
            frames, total = expected.get((version, tester_id, variant_id, class_name), (0, Decimal(0)))
            expected[(version, tester_id, variant_id, class_name)] = (frames + 1, total + Decimal(str(value)))
    return expected


@pytest.mark.django_db
def test_sums_follow_every_write_to_the_predictions(recompute_in_process, django_capture_on_commit_callbacks):
    model = unloadable_model()
    generated = generated_campaign(model, variant_shares=SHARES, testers=6, frames_per_tester=20)
    # Raw predictions only: nothing calibrated to sum, only the frame counts.
    assert stored_sums(model) == sums_of_predictions(model)
    assert {key[3] for key in stored_sums(model)} == {""}

    with django_capture_on_commit_callbacks(execute=True):
        first = store_calibration(model, seed=100)  # activation -> bulk_update of every prediction
    sums = stored_sums(model)
    assert sums == sums_of_predictions(model)
    assert {key[0] for key in sums} == {first.version}
    assert len(sums) == 6 * 2 * (len(CLASS_NAMES) + 1)

    # The mean the dashboard reads equals the AVG over the predictions.
    some = Prediction.objects.filter(model_version=model).values("tester_id", "variant_id").first()
    happy_average = (
        Prediction.objects.filter(model_version=model, **some)
        .annotate(happy=Cast(KT("calibrated_probabilities__happy"), FloatField()))
        .values_list("happy", flat=True)
    )
    frames, total = sums[(first.version, some["tester_id"], some["variant_id"], "happy")]
    assert frames == len(happy_average)
    assert float(total / frames) == pytest.approx(sum(happy_average) / len(happy_average), rel=1e-12)

    # A plain UPDATE moves the rows to another version; a new calibration moves them back.
    Prediction.objects.filter(campaign=generated.campaign, variant=generated.variants[0]).update(calibration_version="")
    assert stored_sums(model) == sums_of_predictions(model)
    with django_capture_on_commit_callbacks(execute=True):
        second = store_calibration(model, seed=200)
    assert stored_sums(model) == sums_of_predictions(model)
    assert {key[0] for key in stored_sums(model)} == {second.version}  # emptied rows are deleted

    # A withdrawal's cascade subtracts the tester's predictions (and the FK removes the rows).
    tester = Prediction.objects.filter(model_version=model).select_related("tester").first().tester
    withdrawn = tester.pk
    session_services.tester_withdraw(tester=tester)
    assert not CalibratedSum.objects.filter(tester_id=withdrawn).exists()
    assert stored_sums(model) == sums_of_predictions(model)

    stored, counted = media_times(model)
    assert stored == counted and sum(stored.values()) == Prediction.objects.filter(model_version=model).count()

    # The rebuild (one INSERT ... SELECT ... GROUP BY) gives exactly the rows the triggers kept.
    kept = stored_sums(model)
    assert calibrations.calibrated_sums_rebuild(model_version_id=model.pk) == len(kept)
    assert stored_sums(model) == kept
    assert media_times(model)[0] == stored


@pytest.mark.django_db
def test_deleting_single_predictions_subtracts_them(recompute_in_process, django_capture_on_commit_callbacks):
    model = unloadable_model()
    generated_campaign(model, variant_shares=SHARES, testers=2, frames_per_tester=5)
    with django_capture_on_commit_callbacks(execute=True):
        store_calibration(model, seed=100)
    first, *_rest = Prediction.objects.filter(model_version=model).order_by("pk")
    first.delete()
    Prediction.objects.filter(model_version=model, tester_id=first.tester_id, variant_id=first.variant_id).delete()
    assert stored_sums(model) == sums_of_predictions(model)
    assert not CalibratedSum.objects.filter(tester_id=first.tester_id, variant_id=first.variant_id).exists()
    assert CalibratedSum.objects.filter(frames__lte=0).count() == 0
    stored, counted = media_times(model)
    assert stored == counted and not MediaTimeFrames.objects.filter(frames__lte=0).exists()
