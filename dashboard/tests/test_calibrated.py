"""The dashboard with an active calibration, on generated data whose truth is known (generated.py)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import calibrated as calibrated_module
from dashboard.selectors import dashboard_data
from emotion_math import calibration as calibration_math
from emotion_math import share_bootstrap, shares
from inference import calibrations
from inference.models import Prediction
from inference.tests.generated import (
    CLASS_NAMES,
    generated_campaign,
    model_answers,
    prediction_row,
    store_calibration,
    unloadable_model,
)
from sessions.models import Frame

from .conftest import make_user

SHARES = {"A": [0.05, 0.02, 0.08, 0.3, 0.25, 0.1, 0.2], "B": [0.05, 0.02, 0.08, 0.5, 0.1, 0.05, 0.2]}
HAPPY, SAD = CLASS_NAMES.index("happy"), CLASS_NAMES.index("sad")


@pytest.fixture
def calibrated_campaign(db, recompute_in_process, django_capture_on_commit_callbacks):
    model = unloadable_model()
    generated = generated_campaign(model, variant_shares=SHARES, testers=30, frames_per_tester=40, seed=3)
    with django_capture_on_commit_callbacks(execute=True):
        calibration = store_calibration(model, seed=100)
    return generated, calibration


def variant_row(data, label):
    return next(v for v in data["variants"] if v["label"] == label)


def class_row(rows, class_name):
    return next(row for row in rows if row["class_name"] == class_name)


def test_uncalibrated_dashboard_says_so_and_offers_no_shares(db):
    model = unloadable_model()
    generated = generated_campaign(model, variant_shares=SHARES, testers=3, frames_per_tester=5)

    data = dashboard_data(campaign=generated.campaign)

    assert data["calibration"]["state"] == "uncalibrated"
    assert data["counting_quality"] == []
    assert data["estimated_shares"] is None
    # Raw values are counted: frames whose raw top class is happy at P >= 0.8.
    raw = generated.raw["A"]
    expected = int(((raw.argmax(axis=1) == HAPPY) & (raw.max(axis=1) >= 0.8)).sum())
    assert class_row(variant_row(data, "A")["classes"], "happy")["count"] == expected


def test_dashboard_counts_on_calibrated_values_and_names_the_calibration(calibrated_campaign):
    generated, calibration = calibrated_campaign

    data = dashboard_data(campaign=generated.campaign)

    assert data["calibration"] == {
        "state": "calibrated",
        "id": calibration.pk,
        "version": calibration.version,
        "method": "temperature",
        "method_label": "Temperature scaling",
        "faces": 2100,
        "created_at": calibration.created_at.isoformat(),
        "stale_frames": 0,
        "source": "generated",
        "label": f"Counting on calibrated probabilities: calibration {calibration.version} "
        "(Temperature scaling, fitted on generated, 2,100 faces)",
        "stale_note": "",
    }
    for label in ("A", "B"):
        raw = generated.raw[label]
        calibrated = calibration_math.apply_calibration(raw, calibration.parameters)
        row = variant_row(data, label)
        for class_index, name in enumerate(CLASS_NAMES):
            expected = int(((calibrated.argmax(axis=1) == class_index) & (calibrated.max(axis=1) >= 0.8)).sum())
            assert class_row(row["classes"], name)["count"] == expected, (label, name)
        raw_happy = int(((raw.argmax(axis=1) == HAPPY) & (raw.max(axis=1) >= 0.8)).sum())
        # The over-confident raw model counts far more frames than the calibrated one.
        assert class_row(row["classes"], "happy")["count"] < raw_happy


def test_a_frame_written_without_calibration_is_counted_raw_and_the_api_queues_its_recompute(
    calibrated_campaign, client, django_capture_on_commit_callbacks
):
    generated, calibration = calibrated_campaign
    variant = generated.variants[0]
    tester = Frame.objects.filter(variant=variant).first().tester
    frame = Frame.objects.create(
        campaign=generated.campaign, tester=tester, variant=variant, sequence=9999, media_time_ms=0,
        outcome=Frame.Outcome.PREDICTION,
    )  # fmt: skip
    surely_happy = np.round(model_answers(np.array([HAPPY]), seed=1, separation=3.0)[0], 6)
    assert surely_happy.max() >= 0.8
    prediction_row(calibration.model_version, frame, surely_happy).save()
    before = class_row(variant_row(dashboard_data(campaign=generated.campaign), "A")["classes"], "happy")["count"]

    data = dashboard_data(campaign=generated.campaign)
    assert data["calibration"]["stale_frames"] == 1
    assert data["calibration"]["stale_note"].startswith("1 frame was not yet computed with this calibration and is")
    assert class_row(variant_row(data, "A")["classes"], "happy")["count"] == before

    owner = make_user("calibrated-owner", generated.campaign.organisation)
    client.force_login(owner)
    calibrations.cache.delete(f"recalibrate-queued:{calibration.model_version_id}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/api/campaigns/{generated.campaign.pk}/dashboard/")
    assert response.status_code == 200
    assert response.json()["calibration"]["version"] == calibration.version
    stored = Prediction.objects.get(frame=frame)
    assert stored.calibration_version == calibration.version
    assert dashboard_data(campaign=generated.campaign)["calibration"]["stale_frames"] == 0


def test_counting_quality_is_recall_and_precision_on_the_calibration_faces(calibrated_campaign):
    _generated, calibration = calibrated_campaign
    raw = np.asarray(calibration.calibration_set["raw_probabilities"])
    labels = np.asarray(calibration.calibration_set["labels"])
    calibrated = calibration_math.apply_calibration(raw, calibration.parameters)

    for threshold in (0.8, 0.4):
        rows = dashboard_data(campaign=_generated.campaign, threshold=threshold)["counting_quality"]
        sad = class_row(rows, "sad")
        counted = (calibrated.argmax(axis=1) == SAD) & (calibrated.max(axis=1) >= threshold)
        assert sad["faces"] == 300
        assert sad["counted"] == int(counted.sum())
        assert sad["recall"] == pytest.approx((counted & (labels == SAD)).sum() / 300)
        if counted.any():
            assert sad["precision"] == pytest.approx((counted & (labels == SAD)).sum() / counted.sum())
        assert sad["sentence"].startswith(f"At {threshold:g}, this model counts ")
        assert "sad faces" in sad["sentence"]


def test_estimated_shares_recover_the_known_mix_and_the_paired_comparison_finds_the_happier_variant(
    calibrated_campaign,
):
    generated, calibration = calibrated_campaign

    data = dashboard_data(campaign=generated.campaign)
    shares = data["estimated_shares"]

    assert shares["estimator"] == "regularised_probabilistic_adjusted_classify_and_count"
    assert shares["testers"] == 30
    for label in ("A", "B"):
        # The truth: what the frames really show, each tester weighing the same (40 frames each).
        truth = np.bincount(generated.labels[label], minlength=len(CLASS_NAMES)) / len(generated.labels[label])
        rows = variant_row(shares, label)["classes"]
        estimate = np.array([row["share"] for row in rows])
        assert np.abs(estimate - truth).max() < 0.05, (label, estimate.round(3), truth.round(3))
        covered = [row["low"] <= true <= row["high"] for row, true in zip(rows, truth, strict=True)]
        assert sum(covered) >= 6
        # The thresholded ratio, by contrast, misses most of the happy frames.
        ratio = class_row(variant_row(data, label)["classes"], "happy")["ratio"]
        assert ratio < truth[HAPPY] - 0.1
    happy = next(c for c in shares["comparisons"] if c["class_name"] == "happy")
    assert happy["clear"] and happy["low"] > 0
    assert happy["verdict"].startswith("B shows more happy: its estimated share is ")


def test_fast_share_bootstrap_agrees_with_solving_every_draw_on_its_own(calibrated_campaign):
    """The pseudo-inverse and batched solves give what lsq_linear gives draw by draw, on matrices
    that are the calibration faces' soft matrices after resampling within each emotion."""
    generated, calibration = calibrated_campaign
    data = calibrated_module.calibration_set(calibration)
    bootstrap = data.bootstrap
    means = np.stack(
        [
            calibration_math.apply_calibration(generated.raw["A"], calibration.parameters)[
                generated.tester_of_frame["A"] == tester
            ].mean(axis=0)
            for tester in range(30)
        ]
    )
    ours = calibrated_module.estimated_shares(
        calibration=calibration, variants=generated.variants[:1], means=means[:, np.newaxis, :]
    )["variants"][0]["classes"]

    faces = share_bootstrap.resampled_calibration_faces(data.labels, samples=bootstrap.samples, seed=bootstrap.seed)
    for draw in (0, 1, bootstrap.samples - 1):
        drawn = np.concatenate([chosen[draw] for chosen in faces.values()])
        expected = shares.misclassification_matrix(data.calibrated[drawn], data.labels[drawn], soft=True)
        np.testing.assert_allclose(bootstrap.draw_matrices[draw], expected, atol=1e-12)
    weights = share_bootstrap.tester_counts(30, samples=bootstrap.samples, seed=bootstrap.seed) / 30
    one_by_one = np.array(
        [
            shares.solve_shares(
                weights[draw] @ means, bootstrap.draw_matrices[draw], regularisation=bootstrap.regularisation
            )
            for draw in range(bootstrap.samples)
        ]
    )
    low, high = share_bootstrap.percentile_interval(one_by_one)
    # The stored quantifier came from the unrounded raw probabilities, the refit from the stored ones.
    estimate = shares.estimate_shares(means.mean(axis=0, keepdims=True), calibration.quantifier)
    np.testing.assert_allclose([row["share"] for row in ours], estimate, atol=1e-4)
    np.testing.assert_allclose([row["low"] for row in ours], low, atol=1e-6)
    np.testing.assert_allclose([row["high"] for row in ours], high, atol=1e-6)


def test_calibrated_dashboard_uses_a_fixed_number_of_queries(calibrated_campaign):
    generated, _calibration = calibrated_campaign
    dashboard_data(campaign=generated.campaign)  # the process reads the calibration faces once
    with CaptureQueriesContext(connection) as first:
        dashboard_data(campaign=generated.campaign)
    Prediction.objects.filter(campaign=generated.campaign).update(calibration_version="")  # all stale
    with CaptureQueriesContext(connection) as second:
        data = dashboard_data(campaign=generated.campaign)
    # At most 16 with the count of stale frames: of them the resting-face baseline reads its snapshots (1),
    # say versus face the scale questions (1; this survey has none, so no answers), the norms the
    # organisation's finished variants and the ratings (2), the analysis backlog (1), the screener
    # questions an audience is chosen from (1).
    assert len(second) == len(first) <= 17
    assert data["calibration"]["stale_frames"] == 2400
    assert data["estimated_shares"]["testers"] == 0
