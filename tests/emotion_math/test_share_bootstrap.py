"""The bootstrap of estimated shares on generated data, where the true mix of emotions is known."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_math import share_bootstrap
from emotion_math.shares import estimate_shares, fit_quantifier, misclassification_matrix, solve_shares

from .generated import CLASS_NAMES, HAPPY, NEUTRAL, SAD, calibration_faces, means_per_tester

SHARES_A = [0.05, 0.0, 0.05, 0.40, 0.10, 0.10, 0.30]
SHARES_B = [0.10, 0.0, 0.10, 0.15, 0.30, 0.05, 0.30]


def test_the_interval_is_reproducible_brackets_the_truth_and_widens_with_fewer_testers() -> None:
    data = share_bootstrap.calibration_set(*calibration_faces(300), CLASS_NAMES, samples=300)
    means, true_shares = means_per_tester(SHARES_A, testers=30, frames_per_tester=50, seed=1)

    estimates, draws = share_bootstrap.share_draws(means[:, np.newaxis], data.bootstrap)
    again = share_bootstrap.share_draws(means[:, np.newaxis], data.bootstrap)[1]
    low, high = share_bootstrap.percentile_interval(draws[0])

    np.testing.assert_array_equal(draws, again)
    assert draws.shape == (1, 300, len(CLASS_NAMES))
    for index in (HAPPY, SAD, NEUTRAL):
        assert low[index] <= estimates[0, index] <= high[index]
        assert low[index] - 0.01 <= true_shares[index] <= high[index] + 0.01
    few_low, few_high = share_bootstrap.percentile_interval(
        share_bootstrap.share_draws(means[:6, np.newaxis], data.bootstrap)[1][0]
    )
    assert (few_high - few_low)[HAPPY] > (high - low)[HAPPY]


def test_resampling_the_calibration_faces_widens_the_interval_and_leaves_the_estimate() -> None:
    calibrated, labels = calibration_faces(60, seed=9)
    quantifier = fit_quantifier(calibrated, labels, CLASS_NAMES)
    means, _ = means_per_tester(SHARES_A, testers=30, frames_per_tester=50, seed=1)
    testers_only = share_bootstrap.share_bootstrap(quantifier, samples=300)
    both = share_bootstrap.share_bootstrap(quantifier, (calibrated, labels), samples=300)

    estimate_testers_only, draws_testers_only = share_bootstrap.share_draws(means[:, np.newaxis], testers_only)
    estimate_both, draws_both = share_bootstrap.share_draws(means[:, np.newaxis], both)

    np.testing.assert_array_equal(estimate_both, estimate_testers_only)
    width_testers_only = np.subtract(*share_bootstrap.percentile_interval(draws_testers_only[0])[::-1])
    width_both = np.subtract(*share_bootstrap.percentile_interval(draws_both[0])[::-1])
    assert np.all(width_both[[HAPPY, SAD, NEUTRAL]] > width_testers_only[[HAPPY, SAD, NEUTRAL]])


def test_each_draw_is_the_estimator_on_resampled_calibration_faces_and_testers() -> None:
    calibrated, labels = calibration_faces(40, seed=3)
    data = share_bootstrap.calibration_set(calibrated, labels, CLASS_NAMES, samples=50, seed=7)
    means, _ = means_per_tester(SHARES_B, testers=12, frames_per_tester=20, seed=2)
    faces = share_bootstrap.resampled_calibration_faces(labels, samples=50, seed=7)
    counts = share_bootstrap.tester_counts(12, samples=50, seed=7)

    draws = share_bootstrap.share_draws(means[:, np.newaxis], data.bootstrap)[1][0]

    assert counts.sum(axis=1).tolist() == [12] * 50
    for draw in range(50):
        drawn = np.concatenate([chosen[draw] for chosen in faces.values()])
        assert np.array_equal(np.bincount(labels[drawn]), np.bincount(labels))  # within each emotion
        matrix = misclassification_matrix(calibrated[drawn], labels[drawn], soft=True)
        observed = np.repeat(means, counts[draw], axis=0).mean(axis=0)
        expected = solve_shares(observed, matrix, regularisation=data.bootstrap.regularisation)
        np.testing.assert_allclose(draws[draw], expected, atol=1e-6)


def test_a_paired_draw_takes_the_same_testers_for_every_variant() -> None:
    data = share_bootstrap.calibration_set(*calibration_faces(100), CLASS_NAMES, samples=200)
    means_a, _ = means_per_tester(SHARES_A, testers=20, frames_per_tester=30, seed=4)
    means_b, _ = means_per_tester(SHARES_B, testers=20, frames_per_tester=30, seed=5)

    # The same frames on both variants: every draw's difference is exactly zero.
    _, same = share_bootstrap.share_draws(np.stack([means_a, means_a], axis=1), data.bootstrap)
    np.testing.assert_array_equal(same[1] - same[0], 0.0)
    assert share_bootstrap.p_values(same[1] - same[0]).tolist() == [1.0] * len(CLASS_NAMES)

    estimates, draws = share_bootstrap.share_draws(np.stack([means_a, means_b], axis=1), data.bootstrap)
    low, high = share_bootstrap.percentile_interval(draws[1] - draws[0])
    assert high[HAPPY] < 0 < low[SAD]  # B shows clearly less happy and more sad
    assert share_bootstrap.p_values(draws[1] - draws[0])[SAD] < 0.01
    expected = estimate_shares(means_b.mean(axis=0, keepdims=True), data.bootstrap.quantifier)
    np.testing.assert_allclose(estimates[1], expected)


def test_per_tester_shares_average_to_the_estimate_when_it_lies_inside_the_bounds() -> None:
    data = share_bootstrap.calibration_set(*calibration_faces(200), CLASS_NAMES, samples=10)
    means, _ = means_per_tester([1 / 7] * 7, testers=25, frames_per_tester=40, seed=6)
    per_tester = share_bootstrap.per_tester_shares(means, data.bootstrap)
    estimate = estimate_shares(means.mean(axis=0, keepdims=True), data.bootstrap.quantifier)
    assert np.all((estimate > 0) & (estimate < 1))
    np.testing.assert_allclose(per_tester.mean(axis=0), estimate, atol=1e-6)


def test_calibration_faces_of_an_emotion_never_seen_keep_the_identity_column() -> None:
    calibrated, labels = calibration_faces(30)
    seen = labels != SAD
    bootstrap = share_bootstrap.calibration_set(calibrated[seen], labels[seen], CLASS_NAMES, samples=20).bootstrap
    assert (bootstrap.draw_matrices[:, :, SAD] == np.eye(len(CLASS_NAMES))[SAD]).all()
    assert bootstrap.samples == 20
    assert set(share_bootstrap.resampled_calibration_faces(labels[seen], samples=2)) == set(range(7)) - {SAD}


@pytest.mark.parametrize("tester_count", [1, 5])
def test_tester_draws_follow_the_seed(tester_count: int) -> None:
    first = share_bootstrap.tester_counts(tester_count, samples=30, seed=2)
    assert np.array_equal(first, share_bootstrap.tester_counts(tester_count, samples=30, seed=2))
    assert first.shape == (30, tester_count) and (first.sum(axis=1) == tester_count).all()
