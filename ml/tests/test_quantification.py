"""Share estimators on generated data, where the true mix of emotions is known.

A weak simulated model (seven classes, accuracy about 0.58 like the FER2013 mini-Xception;
features N(separation * e_c, I), posteriors softmax(separation * x) under the calibration set's
equal priors) pulls plain means towards the calibration set's mix; the
adjusted estimators must undo that under label shift.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotion_math import calibration, share_bootstrap
from emotion_math.shares import fit_quantifier
from ml import quantification

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HAPPY, SAD, NEUTRAL = 3, 4, 6
VARIANT_SHARES = {
    "A": [0.05, 0.0, 0.05, 0.40, 0.10, 0.10, 0.30],
    "B": [0.10, 0.0, 0.10, 0.15, 0.30, 0.05, 0.30],
}


def generated_faces(labels: np.ndarray, *, separation: float = 1.5, seed: int = 0) -> np.ndarray:
    """Calibrated probabilities of a weak simulated model for faces with the given labels."""
    random = np.random.default_rng(seed)
    features = random.normal(size=(len(labels), len(CLASS_NAMES))) + separation * np.eye(len(CLASS_NAMES))[labels]
    return calibration.softmax(separation * features)


def calibration_set(faces_per_class: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    labels = np.repeat(np.arange(len(CLASS_NAMES)), faces_per_class)
    probabilities = generated_faces(labels, seed=seed)
    return probabilities, labels, fit_quantifier(probabilities, labels, CLASS_NAMES)


def shifted_campaign(shares: list[float], frames: int = 3000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    labels = np.random.default_rng(seed).choice(len(CLASS_NAMES), size=frames, p=shares)
    return generated_faces(labels, seed=seed + 100), np.bincount(labels, minlength=len(CLASS_NAMES)) / frames


@pytest.mark.parametrize(
    "estimator",
    [
        "regularised_probabilistic_adjusted_classify_and_count",
        "probabilistic_adjusted_classify_and_count",
        "adjusted_classify_and_count",
        "expectation_maximisation",
        "average_of_pacc_and_em",
    ],
)
def test_adjusted_estimators_recover_shares_under_label_shift_where_the_plain_mean_is_biased(estimator) -> None:
    _, _, quantifier = calibration_set()
    probabilities, true_shares = shifted_campaign(VARIANT_SHARES["B"])
    estimate = quantification.estimate_shares(probabilities, quantifier, estimator)
    assert estimate.sum() == pytest.approx(1.0)
    assert np.all(estimate >= 0)
    assert np.abs(estimate - true_shares).max() < 0.05
    # The weak model pulls the plain mean towards the calibration set's equal shares.
    plain_mean = quantification.estimate_shares(probabilities, quantifier, "mean_probability")
    assert np.abs(plain_mean - true_shares).max() > 0.08
    assert plain_mean[SAD] < true_shares[SAD]


def test_bootstrap_over_testers_is_reproducible_and_brackets_the_truth() -> None:
    _, _, quantifier = calibration_set()
    probabilities, true_shares = shifted_campaign(VARIANT_SHARES["A"], frames=1500)
    tester_ids = np.repeat(np.arange(30), 50)
    first = quantification.bootstrap_shares(probabilities, tester_ids, quantifier, samples=300, seed=3)
    second = quantification.bootstrap_shares(probabilities, tester_ids, quantifier, samples=300, seed=3)
    np.testing.assert_array_equal(first["lower"], second["lower"])
    assert first["testers"] == 30
    for index in (HAPPY, SAD, NEUTRAL):
        assert first["lower"][index] <= first["estimate"][index] <= first["upper"][index]
        assert first["lower"][index] - 0.01 <= true_shares[index] <= first["upper"][index] + 0.01
    # Fewer testers, same frames each: wider intervals.
    few = quantification.bootstrap_shares(probabilities[:300], tester_ids[:300], quantifier, samples=300, seed=3)
    assert (few["upper"] - few["lower"])[HAPPY] > (first["upper"] - first["lower"])[HAPPY]


def test_resampling_a_small_calibration_set_widens_the_interval() -> None:
    calibration_probabilities, calibration_labels, quantifier = calibration_set(faces_per_class=100, seed=9)
    probabilities, _ = shifted_campaign(VARIANT_SHARES["A"], frames=1500)
    tester_ids = np.repeat(np.arange(30), 50)
    testers_only = quantification.bootstrap_shares(probabilities, tester_ids, quantifier, samples=300)
    both = quantification.bootstrap_shares(
        probabilities,
        tester_ids,
        quantifier,
        samples=300,
        calibration_set=(calibration_probabilities, calibration_labels),
    )
    np.testing.assert_allclose(both["estimate"], testers_only["estimate"])
    for index in (HAPPY, SAD, NEUTRAL):
        assert (both["upper"] - both["lower"])[index] > (testers_only["upper"] - testers_only["lower"])[index]


def test_known_truth_campaign_estimates_within_five_points_and_the_paired_test_picks_the_right_variant() -> None:
    _, _, quantifier = calibration_set(seed=4)
    # The campaign draws its frames from other faces than those the quantifier was fitted on.
    pool_labels = np.repeat(np.arange(len(CLASS_NAMES)), 1000)
    pool_probabilities = generated_faces(pool_labels, seed=5)
    result = quantification.known_truth_benchmark(
        pool_probabilities,
        pool_labels,
        quantifier,
        VARIANT_SHARES,
        focus_classes=["happy", "sad", "neutral"],
        bootstrap_samples=300,
        seed=6,
    )
    for variant in result["variants"].values():
        estimate = variant["estimates"][quantification.DEFAULT_ESTIMATOR]
        assert np.abs(estimate - variant["true_shares"])[[HAPPY, SAD, NEUTRAL]].max() <= 0.05
        # The thresholded ratio is what the headline showed: far below the true shares.
        assert variant["threshold_ratio"][SAD] < variant["true_shares"][SAD] - 0.05
    assert result["largest_error"][quantification.DEFAULT_ESTIMATOR] <= 0.05
    comparison = result["comparison"]
    assert comparison["verdict"][HAPPY] == comparison["true_verdict"][HAPPY] == "A"
    assert comparison["verdict"][SAD] == comparison["true_verdict"][SAD] == "B"
    assert comparison["true_verdict"][NEUTRAL] == "tie"
    assert comparison["verdict"][NEUTRAL] == "tie"


def test_paired_comparison_only_uses_testers_who_saw_both_variants() -> None:
    _, _, quantifier = calibration_set()
    probabilities_a, _ = shifted_campaign(VARIANT_SHARES["A"], frames=400, seed=7)
    probabilities_b, _ = shifted_campaign(VARIANT_SHARES["B"], frames=400, seed=8)
    testers_a = np.repeat(np.arange(8), 50)
    testers_b = np.repeat(np.arange(4, 12), 50)
    comparison = quantification.paired_comparison(
        probabilities_a, testers_a, probabilities_b, testers_b, quantifier, samples=200
    )
    assert comparison["testers"] == 4
    expected = quantification.estimate_shares(probabilities_b[:200], quantifier) - quantification.estimate_shares(
        probabilities_a[200:], quantifier
    )
    # Estimated on the mean of per-tester means, as the dashboard does: with 50 frames each, the mean.
    np.testing.assert_allclose(comparison["difference_b_minus_a"], expected, atol=1e-12)


def test_the_study_bootstraps_the_product_estimator_exactly_as_the_dashboard_does() -> None:
    calibration_probabilities, calibration_labels, quantifier = calibration_set(faces_per_class=100, seed=9)
    probabilities, _ = shifted_campaign(VARIANT_SHARES["A"], frames=1500)
    faces = (calibration_probabilities, calibration_labels)
    study = quantification.bootstrap_shares(
        probabilities, np.repeat(np.arange(30), 50), quantifier, samples=200, seed=4, calibration_set=faces
    )
    means = probabilities.reshape(30, 50, len(CLASS_NAMES)).mean(axis=1)[:, np.newaxis]
    bootstrap = share_bootstrap.share_bootstrap(quantifier, faces, samples=200, seed=4)
    estimates, draws = share_bootstrap.share_draws(means, bootstrap)
    lower, upper = share_bootstrap.percentile_interval(draws[0])
    np.testing.assert_array_equal(study["estimate"], estimates[0])
    np.testing.assert_array_equal(study["lower"], lower)
    np.testing.assert_array_equal(study["upper"], upper)


def test_simulated_campaign_draws_frames_per_tester_with_the_variant_mix() -> None:
    labels = np.repeat(np.arange(len(CLASS_NAMES)), 50)
    realised = {variant: [] for variant in VARIANT_SHARES}
    for seed in range(10):
        campaign = quantification.simulate_paired_campaign(
            labels, VARIANT_SHARES, testers=40, frames_per_tester=50, seed=seed
        )
        for variant, frames in campaign.items():
            assert len(frames["face_indices"]) == 2000
            assert set(np.unique(frames["tester_ids"])) == set(range(40))
            np.testing.assert_allclose(
                frames["true_shares"], np.bincount(labels[frames["face_indices"]], minlength=7) / 2000
            )
            realised[variant].append(frames["true_shares"])
    # Testers differ from each other, but on average a variant shows its set mix.
    for variant, shares in realised.items():
        assert np.abs(np.mean(shares, axis=0) - VARIANT_SHARES[variant]).max() < 0.02


def test_threshold_ratio_counts_only_confident_top_classes() -> None:
    probabilities = np.array([[0.9, 0.1], [0.7, 0.3], [0.15, 0.85], [0.5, 0.5]])
    np.testing.assert_allclose(quantification.threshold_ratio(probabilities, 0.8), [0.25, 0.25])


def test_the_default_estimator_is_regularised_pacc_over_every_emotion() -> None:
    assert quantification.DEFAULT_ESTIMATOR == "regularised_probabilistic_adjusted_classify_and_count"
    assert quantification.DEFAULT_GROUPING == "emotions"
    members = quantification.grouping_members(CLASS_NAMES, quantification.DEFAULT_GROUPING)
    assert [name for name, _indices in members] == list(CLASS_NAMES)


def test_with_few_calibration_faces_regularised_pacc_misses_less_badly_than_plain_pacc() -> None:
    """Sixty labelled faces per emotion (about what half of a small real test split gives): the matrix is
    noisy, plain PACC amplifies that noise, the weak prior of equal shares damps it."""
    errors: dict[str, list[float]] = {"plain": [], "regularised": []}
    for seed in range(20):
        labels = np.repeat(np.arange(len(CLASS_NAMES)), 60)
        quantifier = fit_quantifier(generated_faces(labels, seed=seed), labels, CLASS_NAMES)
        for variant in ("A", "B"):
            probabilities, true_shares = shifted_campaign(VARIANT_SHARES[variant], frames=1500, seed=1000 + seed)
            for name, estimator in (
                ("plain", "probabilistic_adjusted_classify_and_count"),
                ("regularised", "regularised_probabilistic_adjusted_classify_and_count"),
            ):
                estimate = quantification.estimate_shares(probabilities, quantifier, estimator)
                errors[name].append(float(np.abs(estimate - true_shares)[[HAPPY, SAD, NEUTRAL]].max()))
    assert max(errors["regularised"]) < max(errors["plain"])
    assert np.mean(errors["regularised"]) <= np.mean(errors["plain"])


def test_a_quantifier_stored_before_regularisation_is_refused_clearly_by_it_and_served_by_the_others() -> None:
    _, _, quantifier = calibration_set(faces_per_class=200)
    old = {key: quantifier[key] for key in ("class_names", "faces", "training_prior", "soft_matrix", "hard_matrix")}
    probabilities, true_shares = shifted_campaign(VARIANT_SHARES["A"])
    with pytest.raises(ValueError, match="refit it with fit_quantifier"):
        quantification.estimate_shares(probabilities, old)
    estimate = quantification.estimate_shares(probabilities, old, "probabilistic_adjusted_classify_and_count")
    assert np.abs(estimate - true_shares).max() < 0.05


def test_grouping_sums_the_merged_emotions_and_recovers_the_grouped_shares() -> None:
    members = quantification.grouping_members(CLASS_NAMES, "happy_sad_neutral_other")
    assert members == [("happy", [HAPPY]), ("sad", [SAD]), ("neutral", [NEUTRAL]), ("other", [0, 1, 2, 5])]
    calibration_probabilities, calibration_labels, _ = calibration_set(faces_per_class=500)
    grouped = quantification.group_probabilities(calibration_probabilities, members)
    np.testing.assert_allclose(grouped.sum(axis=1), 1.0)
    grouped_labels = quantification.group_labels(calibration_labels, members)
    assert np.bincount(grouped_labels).tolist() == [500, 500, 500, 2000]
    quantifier = fit_quantifier(grouped, grouped_labels, [name for name, _ in members])
    # Within "other", the campaign keeps the calibration set's equal mix, so merging is exact.
    shares = [0.1, 0.1, 0.1, 0.3, 0.2, 0.1, 0.1]
    probabilities, true_shares = shifted_campaign(shares)
    estimate = quantification.estimate_shares(quantification.group_probabilities(probabilities, members), quantifier)
    true_grouped = quantification.group_probabilities(true_shares[np.newaxis], members)[0]
    assert np.abs(estimate - true_grouped).max() < 0.05
    with pytest.raises(ValueError, match="Unknown grouping"):
        quantification.grouping_members(CLASS_NAMES, "happy_versus_rest")


def test_known_truth_benchmark_scores_every_grouping_on_the_same_campaign() -> None:
    calibration_probabilities, calibration_labels, quantifier = calibration_set(faces_per_class=300, seed=4)
    pool_labels = np.repeat(np.arange(len(CLASS_NAMES)), 300)
    result = quantification.known_truth_benchmark(
        generated_faces(pool_labels, seed=5),
        pool_labels,
        quantifier,
        VARIANT_SHARES,
        focus_classes=["happy", "sad", "neutral"],
        calibration_set=(calibration_probabilities, calibration_labels),
        groupings=tuple(quantification.GROUPINGS),
        compared_estimators=(quantification.DEFAULT_ESTIMATOR,),
        bootstrap_samples=100,
        comparison_samples=100,
        seed=6,
    )
    by_grouping = result["by_grouping"]
    assert set(by_grouping) == set(quantification.GROUPINGS)
    assert by_grouping["happy_sad_neutral_other"]["groups"] == ["happy", "sad", "neutral", "other"]
    default = by_grouping["emotions"]["estimators"][quantification.DEFAULT_ESTIMATOR]
    # The default grouping is the campaign's own figures, seen from the other side.
    assert default["largest_error"] == pytest.approx(result["largest_error"][quantification.DEFAULT_ESTIMATOR])
    assert default["mean_absolute_error"] <= default["largest_error"] <= 0.05
    assert default["paired_test_right"] is True
    assert "paired_test_right" not in by_grouping["emotions"]["estimators"]["mean_probability"]


def test_kdey_recovers_shares_under_label_shift_where_classify_and_count_is_biased() -> None:
    calibration_probabilities, calibration_labels, _ = calibration_set(faces_per_class=300, seed=11)
    quantifier = quantification.with_calibration_faces(
        fit_quantifier(calibration_probabilities, calibration_labels, CLASS_NAMES),
        calibration_probabilities,
        calibration_labels,
        bandwidth=0.1,
    )
    for variant, seed in (("A", 12), ("B", 13)):
        probabilities, true_shares = shifted_campaign(VARIANT_SHARES[variant], seed=seed)
        estimate = quantification.estimate_shares(probabilities, quantifier, "kde_maximum_likelihood")
        assert estimate.sum() == pytest.approx(1.0)
        assert np.all(estimate >= 0)
        assert np.abs(estimate - true_shares).max() < 0.04
        counted = quantification.estimate_shares(probabilities, quantifier, "classify_and_count")
        assert np.abs(counted - true_shares).max() > 0.08


def test_mixture_maximum_likelihood_finds_the_weights_of_known_densities() -> None:
    # Two overlapping unit Gaussians on a line, 30% / 70%: their exact log densities per point.
    random = np.random.default_rng(21)
    points = np.concatenate([random.normal(0.0, 1.0, 3000), random.normal(1.5, 1.0, 7000)])
    log_densities = np.stack([-((points - 0.0) ** 2) / 2, -((points - 1.5) ** 2) / 2], axis=1)
    np.testing.assert_allclose(quantification.mixture_maximum_likelihood(log_densities), [0.3, 0.7], atol=0.03)
    # A class with no calibration faces (all -inf) gets no share.
    with_absent = np.concatenate([log_densities, np.full((len(points), 1), -np.inf)], axis=1)
    shares = quantification.mixture_maximum_likelihood(with_absent)
    assert shares[2] == 0.0
    assert shares.sum() == pytest.approx(1.0)


def test_kde_bandwidth_is_chosen_on_the_calibration_faces_and_avoids_one_that_follows_single_faces() -> None:
    calibration_probabilities, calibration_labels, _ = calibration_set(faces_per_class=60, seed=14)
    chosen = quantification.kde_bandwidth(
        calibration_probabilities, calibration_labels, len(CLASS_NAMES), candidates=(0.003, 0.1), samples_per_fold=4
    )
    assert chosen == 0.1
    # By default it picks among the documented candidates when the quantifier keeps the faces.
    quantifier = quantification.with_calibration_faces(
        fit_quantifier(calibration_probabilities, calibration_labels, CLASS_NAMES),
        calibration_probabilities,
        calibration_labels,
    )
    assert quantifier["calibration_faces"]["bandwidth"] in quantification.KDE_BANDWIDTHS
    assert len(quantifier["calibration_faces"]["labels"]) == 60 * len(CLASS_NAMES)
    assert json.loads(json.dumps(quantifier)) == quantifier  # stored as JSON with the calibration


def test_kdey_refuses_a_quantifier_without_calibration_faces_and_others_do_not_need_them() -> None:
    _, _, quantifier = calibration_set(faces_per_class=100)
    assert "calibration_faces" not in quantifier
    probabilities, _ = shifted_campaign(VARIANT_SHARES["A"], frames=300)
    with pytest.raises(ValueError, match="with_calibration_faces"):
        quantification.estimate_shares(probabilities, quantifier, "kde_maximum_likelihood")
    with pytest.raises(ValueError, match="kde_maximum_likelihood"):
        quantification.estimate_shares(probabilities, quantifier, "kdey")


def test_kdey_bootstrap_resamples_calibration_faces_with_the_original_bandwidth_and_widens_the_interval() -> None:
    calibration_probabilities, calibration_labels, _ = calibration_set(faces_per_class=100, seed=15)
    quantifier = quantification.with_calibration_faces(
        fit_quantifier(calibration_probabilities, calibration_labels, CLASS_NAMES),
        calibration_probabilities,
        calibration_labels,
        bandwidth=0.13,
    )
    drawn = share_bootstrap.resampled_calibration_faces(calibration_labels, samples=1, seed=0)
    resampled = quantification._resampled_quantifier(
        quantifier,
        (calibration_probabilities, calibration_labels),
        np.concatenate([chosen[0] for chosen in drawn.values()]),
    )
    assert resampled["calibration_faces"]["bandwidth"] == 0.13
    assert resampled["calibration_faces"]["probabilities"] != quantifier["calibration_faces"]["probabilities"]
    probabilities, _ = shifted_campaign(VARIANT_SHARES["A"], frames=1500, seed=16)
    tester_ids = np.repeat(np.arange(30), 50)
    testers_only = quantification.bootstrap_shares(
        probabilities, tester_ids, quantifier, estimator="kde_maximum_likelihood", samples=60
    )
    interval = quantification.bootstrap_shares(
        probabilities,
        tester_ids,
        quantifier,
        estimator="kde_maximum_likelihood",
        samples=60,
        calibration_set=(calibration_probabilities, calibration_labels),
    )
    # A hundred calibration faces per emotion: KDEy's own error is larger than the campaign's.
    for index in (HAPPY, SAD, NEUTRAL):
        assert interval["lower"][index] <= interval["estimate"][index] <= interval["upper"][index]
        assert (interval["upper"] - interval["lower"])[index] > (testers_only["upper"] - testers_only["lower"])[index]
