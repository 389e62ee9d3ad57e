"""The study's share estimators, compared with the product's on simulated campaigns whose truth is
known (quantification: estimating how much of the time testers showed each emotion).

The product's estimator, regularised PACC, its quantifier and the bootstrap of its intervals are in
emotion_math (shares, share_bootstrap), where the dashboard uses them; this module adds the
estimators it was chosen against (Forman 2008; Bella et al. 2010; Saerens et al. 2002):

- `classify_and_count` (CC): share of frames whose top class is each emotion. Biased whenever the
  model confuses classes, and the bias depends on the campaign's own mix.
- `adjusted_classify_and_count` (ACC): CC corrected by the confusion matrix measured on the
  calibration faces: observed = M @ true shares, solved for true shares.
- `probabilistic_adjusted_classify_and_count` (PACC): the same with mean calibrated probabilities
  instead of hard counts, which is less noisy.
- `regularised_probabilistic_adjusted_classify_and_count` (regularised PACC, the one Mimik uses;
  emotion_math.shares): PACC as a maximum a-posteriori estimate, with a weak prior that the shares
  are near equal, its weight measured on the calibration faces.
- `expectation_maximisation` (EM, Saerens et al.): re-weights calibrated posteriors to new priors.
  Needs every frame's posteriors; the dashboard only aggregates means, so it cannot use it.
- `average_of_pacc_and_em`: the mean of the two, kept for comparison.
- `kde_maximum_likelihood` (KDEy-ML, Moreo, González and del Coz 2023): each emotion's distribution
  of calibrated probability vectors is a Gaussian kernel density over its calibration faces, and the
  shares are the mixture weights that make the campaign's frames most likely. Needs every frame and
  the calibration faces themselves (`with_calibration_faces`), so it is in `FACE_ESTIMATORS`, not
  `ESTIMATORS`. On real faces it did not beat regularised PACC (ml/README.md); kept for the comparison.
- `mean_probability`: the plain mean of calibrated probabilities, kept as the biased baseline.

Groupings (`GROUPINGS`): shares can be estimated over fewer, merged groups (e.g. happy, sad, neutral
and "other"), by summing the probability columns and the labels of each group before fitting. On
real faces (ml.real_faces_report) merging did not help: the merged group's own mix changes between
campaigns, which biases the others, so Mimik estimates every emotion of the model.

Intervals and paired comparisons draw testers and calibration faces as the dashboard does
(emotion_math.share_bootstrap), so what the simulations measure is what the dashboard shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from emotion_math.share_bootstrap import (
    CONFIDENCE,
    SAMPLES,
    SEED,
    p_values,
    percentile_interval,
    resampled_calibration_faces,
    share_bootstrap,
    share_draws,
    tester_counts,
)
from emotion_math.shares import (
    DEFAULT_ESTIMATOR,
    DEFAULT_GROUPING,
    fit_quantifier,
    one_hot_predictions,
    regularised_probabilistic_adjusted_classify_and_count,
    solve_shares,
)

ESTIMATORS = (
    "regularised_probabilistic_adjusted_classify_and_count",
    "probabilistic_adjusted_classify_and_count",
    "adjusted_classify_and_count",
    "expectation_maximisation",
    "average_of_pacc_and_em",
    "classify_and_count",
    "mean_probability",
)
# Estimators that need the calibration faces in the quantifier (with_calibration_faces).
FACE_ESTIMATORS = ("kde_maximum_likelihood",)
ABBREVIATIONS = {
    "regularised_probabilistic_adjusted_classify_and_count": "rPACC",
    "probabilistic_adjusted_classify_and_count": "PACC",
    "adjusted_classify_and_count": "ACC",
    "expectation_maximisation": "EM",
    "average_of_pacc_and_em": "PACC+EM",
    "classify_and_count": "CC",
    "mean_probability": "mean",
    "kde_maximum_likelihood": "KDEy",
}
# Named groups, each a tuple of class names; the model's classes not named go to OTHER_GROUP.
GROUPINGS: dict[str, tuple[tuple[str, ...], ...] | None] = {
    DEFAULT_GROUPING: None,  # every class of the model on its own
    "happy_sad_neutral_other": (("happy",), ("sad",), ("neutral",)),
    "happy_sad_neutral_surprise_other": (("happy",), ("sad",), ("neutral",), ("surprise",)),
}
OTHER_GROUP = "other"
# KDEy: bandwidth candidates (Euclidean, in the simplex of calibrated probabilities); Moreo et al.
# use 0.1 by default and choose among such values by quantification error on held-out data, as
# `kde_bandwidth` does on folds of the calibration faces.
KDE_BANDWIDTHS = (0.05, 0.07, 0.1, 0.13, 0.16, 0.2)
KDE_DEFAULT_BANDWIDTH = 0.1
KDE_CHUNK_FRAMES = 4096


def kde_log_densities(
    probabilities: np.ndarray, calibration_probabilities: np.ndarray, calibration_labels: np.ndarray, bandwidth: float
) -> np.ndarray:
    """frames x classes: log of each class's Gaussian kernel density at each frame's probability vector.

    The kernel's normalising constant is left out: it is the same for every class (one bandwidth),
    so it changes no mixture weight. Classes without calibration faces get -inf (share 0)."""
    points = np.asarray(probabilities, dtype=np.float64)
    centres = np.asarray(calibration_probabilities, dtype=np.float64)
    calibration_labels = np.asarray(calibration_labels)
    class_count = centres.shape[1]
    members = [np.flatnonzero(calibration_labels == class_index) for class_index in range(class_count)]
    densities = np.full((len(points), class_count), -np.inf)
    # In chunks of frames: the kernel matrix is frames x calibration faces.
    for start in range(0, len(points), KDE_CHUNK_FRAMES):
        chunk = points[start : start + KDE_CHUNK_FRAMES]
        squared = (chunk**2).sum(axis=1)[:, None] + (centres**2).sum(axis=1)[None, :] - 2 * chunk @ centres.T
        log_kernel = -np.maximum(squared, 0.0) / (2 * bandwidth**2)
        for class_index, indices in enumerate(members):
            if indices.size:
                densities[start : start + len(chunk), class_index] = logsumexp(log_kernel[:, indices], axis=1) - np.log(
                    indices.size
                )
    return densities


SUM_TO_ONE = {"type": "eq", "fun": lambda shares: shares.sum() - 1, "jac": lambda shares: np.ones_like(shares)}


def mixture_maximum_likelihood(log_densities: np.ndarray) -> np.ndarray:
    """Shares s on the simplex maximising sum_frames log sum_c s_c p_c(frame).

    The log-likelihood is concave in s, so a constrained quasi-Newton solve (SLSQP) finds the
    optimum; plain EM iterations crawl where two classes' densities overlap."""
    log_densities = np.asarray(log_densities, dtype=np.float64)
    present = np.isfinite(log_densities).any(axis=0)
    # Scaling a frame's row changes no argmax, and keeps exp() in range.
    densities = np.exp(log_densities[:, present] - log_densities[:, present].max(axis=1, keepdims=True))
    frames, class_count = densities.shape

    def negative_log_likelihood(shares: np.ndarray) -> tuple[float, np.ndarray]:
        mixture = densities @ shares + 1e-300
        return -np.log(mixture).sum() / frames, -(densities / mixture[:, None]).sum(axis=0) / frames

    solution = minimize(
        negative_log_likelihood,
        np.full(class_count, 1 / class_count),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * class_count,
        constraints=[SUM_TO_ONE],
        options={"ftol": 1e-12, "maxiter": 500},
    ).x
    shares = np.zeros(log_densities.shape[1])
    shares[present] = np.clip(solution, 0.0, None)
    return shares / shares.sum()


def kde_bandwidth(
    calibrated_probabilities: np.ndarray,
    labels: np.ndarray,
    class_count: int,
    *,
    candidates: Sequence[float] = KDE_BANDWIDTHS,
    folds: int = 5,
    samples_per_fold: int = 20,
    frames: int = 300,
    seed: int = 0,
) -> float:
    """The candidate bandwidth with the least quantification error on the calibration faces alone.

    Each fold's faces are held out; samples of them with random shares (uniform Dirichlet) are
    quantified by densities over the other folds' faces, so, as in a campaign, the frames are other
    faces than those the densities come from. The bandwidth that best fits the densities
    (leave-one-out likelihood) is smaller (about 0.06 on FER2013) and quantifies worse: sharper
    densities follow each calibration face, not the emotion."""
    probabilities = np.asarray(calibrated_probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    random = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for class_index in np.unique(labels):
        members = random.permutation(np.flatnonzero(labels == class_index))
        fold_of[members] = np.arange(members.size) % folds
    errors = np.zeros(len(candidates))
    for fold in range(folds):
        fitted, held_out = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        pools = [np.flatnonzero(labels[held_out] == class_index) for class_index in range(class_count)]
        drawable = [class_index for class_index, pool in enumerate(pools) if pool.size]
        if not drawable:
            continue
        # A face's densities do not depend on the sample it is drawn into: computed once per fold.
        densities = [
            kde_log_densities(probabilities[held_out], probabilities[fitted], labels[fitted], bandwidth)
            for bandwidth in candidates
        ]
        for _sample in range(samples_per_fold):
            counts = np.zeros(class_count, dtype=np.int64)
            counts[drawable] = random.multinomial(frames, random.dirichlet(np.ones(len(drawable))))
            chosen = np.concatenate([random.choice(pools[index], counts[index]) for index in drawable])
            for position, candidate_densities in enumerate(densities):
                estimate = mixture_maximum_likelihood(candidate_densities[chosen])
                errors[position] += np.abs(estimate - counts / frames).mean()
    return float(candidates[int(np.argmin(errors))])


def with_calibration_faces(
    quantifier: dict, calibrated_probabilities: np.ndarray, labels: np.ndarray, *, bandwidth: float | None = None
) -> dict:
    """The quantifier plus the calibration faces' calibrated probabilities and labels, with the KDE
    bandwidth (`bandwidth`, else chosen by `kde_bandwidth`), for the FACE_ESTIMATORS: about 9
    characters per probability in JSON, so some 40 kB for 670 faces of 7 emotions."""
    labels = np.asarray(labels)
    if bandwidth is None:
        bandwidth = kde_bandwidth(calibrated_probabilities, labels, len(quantifier["class_names"]))
    return {
        **quantifier,
        "calibration_faces": {
            "probabilities": np.asarray(calibrated_probabilities, dtype=np.float64).round(6).tolist(),
            "labels": labels.tolist(),
            "bandwidth": float(bandwidth),
        },
    }


def grouping_members(class_names: Sequence[str], grouping: str = DEFAULT_GROUPING) -> list[tuple[str, list[int]]]:
    """(group name, class indices) per group: the grouping's named groups (their classes the model
    has), then OTHER_GROUP with the remaining classes, if any."""
    if grouping not in GROUPINGS:
        raise ValueError(f"Unknown grouping {grouping!r}; expected one of {tuple(GROUPINGS)}.")
    groups = GROUPINGS[grouping]
    if groups is None:
        return [(name, [index]) for index, name in enumerate(class_names)]
    members = []
    for group in groups:
        indices = [class_names.index(name) for name in group if name in class_names]
        if indices:
            members.append(("+".join(class_names[index] for index in indices), indices))
    named = {index for _name, indices in members for index in indices}
    rest = [index for index in range(len(class_names)) if index not in named]
    if rest:
        members.append((OTHER_GROUP, rest))
    return members


def group_probabilities(probabilities: np.ndarray, members: Sequence[tuple[str, list[int]]]) -> np.ndarray:
    """Columns summed per group: the probability that the face shows any emotion of the group."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return np.stack([probabilities[:, indices].sum(axis=1) for _name, indices in members], axis=1)


def group_labels(labels: np.ndarray, members: Sequence[tuple[str, list[int]]]) -> np.ndarray:
    class_count = max(index for _name, indices in members for index in indices) + 1
    group_of = np.zeros(class_count, dtype=np.int64)
    for group_index, (_name, indices) in enumerate(members):
        group_of[indices] = group_index
    return group_of[np.asarray(labels)]


def classify_and_count(probabilities: np.ndarray, quantifier: dict | None = None) -> np.ndarray:
    return one_hot_predictions(probabilities).mean(axis=0)


def mean_probability(probabilities: np.ndarray, quantifier: dict | None = None) -> np.ndarray:
    return np.asarray(probabilities, dtype=np.float64).mean(axis=0)


def adjusted_classify_and_count(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    return solve_shares(classify_and_count(probabilities), np.asarray(quantifier["hard_matrix"]))


def probabilistic_adjusted_classify_and_count(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    return solve_shares(mean_probability(probabilities), np.asarray(quantifier["soft_matrix"]))


def expectation_maximisation(
    probabilities: np.ndarray, quantifier: dict, max_iterations: int = 1000, tolerance: float = 1e-8
) -> np.ndarray:
    """Saerens, Latinne and Decaestecker (2002): alternate re-weighting posteriors by new/old priors
    and re-estimating the priors as their mean. Needs calibrated posteriors."""
    posteriors = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None)
    training_prior = np.clip(np.asarray(quantifier["training_prior"], dtype=np.float64), 1e-12, None)
    prior = training_prior.copy()
    for _iteration in range(max_iterations):
        adjusted = posteriors * (prior / training_prior)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        new_prior = adjusted.mean(axis=0)
        if np.abs(new_prior - prior).max() < tolerance:
            return new_prior
        prior = new_prior
    return prior


def kde_maximum_likelihood(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    """KDEy-ML: mixture weights of the emotions' kernel densities that make the frames most likely."""
    if "calibration_faces" not in quantifier:
        raise ValueError("KDEy needs the calibration faces in the quantifier; add them with with_calibration_faces.")
    faces = quantifier["calibration_faces"]
    return mixture_maximum_likelihood(
        kde_log_densities(probabilities, faces["probabilities"], faces["labels"], float(faces["bandwidth"]))
    )


def average_of_pacc_and_em(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    return (
        probabilistic_adjusted_classify_and_count(probabilities, quantifier)
        + expectation_maximisation(probabilities, quantifier)
    ) / 2


ESTIMATOR_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "regularised_probabilistic_adjusted_classify_and_count": regularised_probabilistic_adjusted_classify_and_count,
    "probabilistic_adjusted_classify_and_count": probabilistic_adjusted_classify_and_count,
    "average_of_pacc_and_em": average_of_pacc_and_em,
    "adjusted_classify_and_count": adjusted_classify_and_count,
    "expectation_maximisation": expectation_maximisation,
    "classify_and_count": classify_and_count,
    "mean_probability": mean_probability,
    "kde_maximum_likelihood": kde_maximum_likelihood,
}


def estimate_shares(probabilities: np.ndarray, quantifier: dict, estimator: str = DEFAULT_ESTIMATOR) -> np.ndarray:
    """By any of the compared estimators (the product's is emotion_math.shares.estimate_shares)."""
    if estimator not in ESTIMATOR_FUNCTIONS:
        raise ValueError(f"Unknown estimator {estimator!r}; expected one of {ESTIMATORS + FACE_ESTIMATORS}.")
    if len(probabilities) == 0:
        return np.full(len(quantifier["class_names"]), np.nan)
    return ESTIMATOR_FUNCTIONS[estimator](probabilities, quantifier)


def threshold_ratio(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """The dashboard's headline: share of frames whose top emotion is each class with P >= threshold."""
    probabilities = np.asarray(probabilities)
    counted = one_hot_predictions(probabilities) * (probabilities.max(axis=1, keepdims=True) >= threshold)
    return counted.mean(axis=0)


def _resampled_quantifier(quantifier: dict, calibration_set: tuple[np.ndarray, np.ndarray], faces: np.ndarray) -> dict:
    """The quantifier refitted on one draw's calibration faces (indices into `calibration_set`),
    with the original's prior weight and KDE bandwidth."""
    probabilities, labels = calibration_set
    resampled = fit_quantifier(
        probabilities[faces], labels[faces], quantifier["class_names"], regularisation=quantifier.get("regularisation")
    )
    kept = quantifier.get("calibration_faces")
    if kept is None:
        return resampled
    return with_calibration_faces(resampled, probabilities[faces], labels[faces], bandwidth=kept["bandwidth"])


def _frames_by_tester(tester_ids: Sequence) -> list[np.ndarray]:
    tester_ids = np.asarray(tester_ids)
    return [np.flatnonzero(tester_ids == tester) for tester in dict.fromkeys(tester_ids.tolist())]


def _estimates_and_draws(
    probabilities: Sequence[np.ndarray],
    frames: Sequence[Sequence[np.ndarray]],
    quantifier: dict,
    *,
    estimator: str,
    samples: int,
    seed: int,
    calibration_set: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per variant (`probabilities[v]`, `frames[v][tester]` its frames of each tester, the same
    testers in the same order for every variant): the estimated shares, and every bootstrap draw's
    (variants x samples x classes).

    The product's estimator goes exactly the dashboard's way (emotion_math.share_bootstrap on
    per-tester means). The others are refitted on each draw's calibration faces and applied to the
    frames of its testers, drawn by the same share_bootstrap functions and seed; their frames are
    pooled, which weighs every tester the same when testers have as many frames each, as in
    `simulate_paired_campaign`."""
    if estimator == DEFAULT_ESTIMATOR:
        means = np.stack(
            [
                np.stack([variant[tester].mean(axis=0) for variant, tester in zip(probabilities, testers, strict=True)])
                for testers in zip(*frames, strict=True)
            ]
        )
        return share_draws(means, share_bootstrap(quantifier, calibration_set, samples=samples, seed=seed))
    estimates = np.stack(
        [
            estimate_shares(variant[np.concatenate(testers)], quantifier, estimator)
            for variant, testers in zip(probabilities, frames, strict=True)
        ]
    )
    tester_count = len(frames[0])
    counts = tester_counts(tester_count, samples=samples, seed=seed)
    faces = (
        None if calibration_set is None else resampled_calibration_faces(calibration_set[1], samples=samples, seed=seed)
    )
    draws = np.empty((len(probabilities), samples, estimates.shape[1]))
    for sample in range(samples):
        draw_quantifier = quantifier
        if faces is not None:
            draw_faces = np.concatenate([chosen[sample] for chosen in faces.values()])
            draw_quantifier = _resampled_quantifier(quantifier, calibration_set, draw_faces)
        chosen_testers = np.repeat(np.arange(tester_count), counts[sample])
        for v, (variant, testers) in enumerate(zip(probabilities, frames, strict=True)):
            draw_frames = np.concatenate([testers[tester] for tester in chosen_testers])
            draws[v, sample] = estimate_shares(variant[draw_frames], draw_quantifier, estimator)
    return estimates, draws


def bootstrap_shares(
    probabilities: np.ndarray,
    tester_ids: Sequence,
    quantifier: dict,
    *,
    estimator: str = DEFAULT_ESTIMATOR,
    samples: int = SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    calibration_set: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Estimate and percentile interval, resampling testers (not frames). With `calibration_set`
    (calibrated probabilities and labels of the calibration faces the quantifier was fitted on),
    each draw also resamples those within each emotion, so the interval includes the uncertainty of
    the misclassification matrix, as on the dashboard."""
    probabilities = np.asarray(probabilities)
    groups = _frames_by_tester(tester_ids)
    estimates, draws = _estimates_and_draws(
        [probabilities],
        [groups],
        quantifier,
        estimator=estimator,
        samples=samples,
        seed=seed,
        calibration_set=calibration_set,
    )
    lower, upper = percentile_interval(draws[0], confidence)
    return {
        "estimator": estimator,
        "estimate": estimates[0],
        "lower": lower,
        "upper": upper,
        "testers": len(groups),
        "frames": len(probabilities),
    }


def paired_comparison(
    probabilities_a: np.ndarray,
    tester_ids_a: Sequence,
    probabilities_b: np.ndarray,
    tester_ids_b: Sequence,
    quantifier: dict,
    *,
    estimator: str = DEFAULT_ESTIMATOR,
    samples: int = SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    calibration_set: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Difference of estimated shares (B - A) per emotion for testers who saw both variants.

    Resampling a tester takes both of their sessions, so what a tester brings to both variants
    (their face, their camera, how expressive they are) cancels in the difference. `verdict` per
    emotion: "B" or "A" when the interval excludes zero (that variant shows more of it), else "tie".
    `calibration_set` as in bootstrap_shares (both variants share each draw's matrix)."""
    tester_ids_a = np.asarray(tester_ids_a)
    tester_ids_b = np.asarray(tester_ids_b)
    paired_testers = [tester for tester in dict.fromkeys(tester_ids_a.tolist()) if tester in set(tester_ids_b.tolist())]
    frames_a = [np.flatnonzero(tester_ids_a == tester) for tester in paired_testers]
    frames_b = [np.flatnonzero(tester_ids_b == tester) for tester in paired_testers]
    estimates, draws = _estimates_and_draws(
        [np.asarray(probabilities_a), np.asarray(probabilities_b)],
        [frames_a, frames_b],
        quantifier,
        estimator=estimator,
        samples=samples,
        seed=seed,
        calibration_set=calibration_set,
    )
    differences = draws[1] - draws[0]
    lower, upper = percentile_interval(differences, confidence)
    verdicts = np.where(lower > 0, "B", np.where(upper < 0, "A", "tie"))
    return {
        "estimator": estimator,
        "testers": len(paired_testers),
        "difference_b_minus_a": estimates[1] - estimates[0],
        "lower": lower,
        "upper": upper,
        "p_value": p_values(differences),
        "verdict": verdicts.tolist(),
    }


def simulate_paired_campaign(
    labels: np.ndarray,
    variant_shares: dict[str, Sequence[float]],
    *,
    testers: int = 30,
    frames_per_tester: int = 50,
    tester_concentration: float = 30.0,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """A campaign whose truth is known: every tester sees every variant (as in a counterbalanced
    campaign), and each frame is a labelled face drawn (with replacement) from `labels`' pool.

    Each tester's own mix for a variant is drawn from a Dirichlet around the variant's shares, so
    testers differ as real ones do. Returns, per variant, the face indices of its frames, their
    tester ids and the realised true shares (what the frames really show)."""
    labels = np.asarray(labels)
    random = np.random.default_rng(seed)
    class_count = len(next(iter(variant_shares.values())))
    pools = [np.flatnonzero(labels == class_index) for class_index in range(class_count)]
    campaign = {}
    for variant, shares in variant_shares.items():
        shares = np.asarray(shares, dtype=np.float64)
        # Classes without faces in the pool cannot be drawn; their share goes to the others.
        shares = np.where([len(pool) > 0 for pool in pools], shares, 0.0)
        shares /= shares.sum()
        face_indices, tester_ids = [], []
        for tester in range(testers):
            tester_mix = random.dirichlet(shares * tester_concentration + 1e-3)
            frame_classes = random.choice(class_count, size=frames_per_tester, p=tester_mix)
            face_indices.extend(random.choice(pools[frame_class]) for frame_class in frame_classes)
            tester_ids.extend([tester] * frames_per_tester)
        face_indices_array = np.asarray(face_indices)
        campaign[variant] = {
            "face_indices": face_indices_array,
            "tester_ids": np.asarray(tester_ids),
            "true_shares": np.bincount(labels[face_indices_array], minlength=class_count) / len(face_indices_array),
        }
    return campaign


def known_truth_benchmark(
    calibrated_probabilities: np.ndarray,
    labels: np.ndarray,
    quantifier: dict,
    variant_shares: dict[str, Sequence[float]],
    *,
    threshold: float = 0.8,
    estimators: Sequence[str] = ESTIMATORS,
    bootstrap_samples: int = SAMPLES,
    focus_classes: Sequence[str] | None = None,
    calibration_set: tuple[np.ndarray, np.ndarray] | None = None,
    estimator: str = DEFAULT_ESTIMATOR,
    groupings: Sequence[str] = (DEFAULT_GROUPING,),
    compared_estimators: Sequence[str] = (),
    comparison_samples: int = 200,
    seed: int = 0,
    **campaign_options: Any,
) -> dict[str, Any]:
    """Simulate a two-variant campaign from labelled faces (not those the quantifier was fitted on)
    and compare, per variant and emotion, the true share, the thresholded ratio and each estimator.
    Intervals and the paired comparison use `estimator`; the paired comparison is checked against the true difference.
    `largest_error` per estimator is over `focus_classes` (default all) and both variants.

    `groupings` other than the default estimate the same campaign's frames over merged groups, with
    a quantifier refitted on `calibration_set` grouped alike (so it is required then); their
    figures, and those of the paired test for `compared_estimators` (with `comparison_samples`
    draws), are in `by_grouping[grouping][estimator]`: the largest and mean absolute error over the
    focus classes that are groups of their own, and whether the paired test picked the right
    variant for happy and sad."""
    class_names = quantifier["class_names"]
    focus_names = list(focus_classes or class_names)
    focus = [class_names.index(name) for name in focus_names]
    campaign = simulate_paired_campaign(labels, variant_shares, seed=seed, **campaign_options)
    variants = {}
    for variant, frames in campaign.items():
        probabilities = calibrated_probabilities[frames["face_indices"]]
        interval = bootstrap_shares(
            probabilities,
            frames["tester_ids"],
            quantifier,
            estimator=estimator,
            samples=bootstrap_samples,
            seed=seed,
            calibration_set=calibration_set,
        )
        variants[variant] = {
            "frames": len(probabilities),
            "testers": interval["testers"],
            "true_shares": frames["true_shares"],
            "threshold_ratio": threshold_ratio(probabilities, threshold),
            "estimates": {estimator: estimate_shares(probabilities, quantifier, estimator) for estimator in estimators},
            "interval_lower": interval["lower"],
            "interval_upper": interval["upper"],
            "interval_covers_truth": (interval["lower"] <= frames["true_shares"])
            & (frames["true_shares"] <= interval["upper"]),
        }
    first, second = list(campaign)[:2]
    comparison = paired_comparison(
        calibrated_probabilities[campaign[first]["face_indices"]],
        campaign[first]["tester_ids"],
        calibrated_probabilities[campaign[second]["face_indices"]],
        campaign[second]["tester_ids"],
        quantifier,
        estimator=estimator,
        samples=bootstrap_samples,
        seed=seed,
        calibration_set=calibration_set,
    )
    true_difference = campaign[second]["true_shares"] - campaign[first]["true_shares"]
    comparison["true_difference_b_minus_a"] = true_difference
    comparison["true_verdict"] = _true_verdicts(true_difference)
    errors = {
        estimator: max(
            float(np.abs(variants[variant]["estimates"][estimator] - variants[variant]["true_shares"])[focus].max())
            for variant in variants
        )
        for estimator in estimators
    }
    by_grouping = {
        grouping: _grouped_figures(
            grouping,
            calibrated_probabilities,
            labels,
            quantifier,
            campaign,
            estimators=estimators,
            focus_names=focus_names,
            calibration_set=calibration_set,
            compared_estimators=compared_estimators,
            comparison_samples=comparison_samples,
            seed=seed,
        )
        for grouping in groupings
    }
    return {
        "class_names": class_names,
        "estimator": estimator,
        "focus_classes": [class_names[index] for index in focus],
        "variants": variants,
        "comparison": comparison,
        "largest_error": errors,
        "by_grouping": by_grouping,
    }


def _true_verdicts(true_difference: np.ndarray) -> list[str]:
    # The right answer: the variant with clearly more of an emotion (differences under 0.05 count as a tie).
    return np.where(true_difference > 0.05, "B", np.where(true_difference < -0.05, "A", "tie")).tolist()


def _grouped_figures(
    grouping: str,
    calibrated_probabilities: np.ndarray,
    labels: np.ndarray,
    quantifier: dict,
    campaign: dict[str, dict[str, np.ndarray]],
    *,
    estimators: Sequence[str],
    focus_names: Sequence[str],
    calibration_set: tuple[np.ndarray, np.ndarray] | None,
    compared_estimators: Sequence[str],
    comparison_samples: int,
    seed: int,
) -> dict[str, Any]:
    """One grouping's figures for the campaign already drawn (same frames for every grouping)."""
    class_names = list(quantifier["class_names"])
    members = grouping_members(class_names, grouping)
    names = [name for name, _indices in members]
    probabilities = group_probabilities(calibrated_probabilities, members)
    grouped_set = None
    if GROUPINGS[grouping] is None:
        grouped_quantifier = quantifier
        grouped_set = calibration_set
    else:
        if calibration_set is None:
            raise ValueError(f"Grouping {grouping!r} needs the calibration set to refit the quantifier.")
        grouped_set = (group_probabilities(calibration_set[0], members), group_labels(calibration_set[1], members))
        grouped_quantifier = fit_quantifier(*grouped_set, names)
        faces = quantifier.get("calibration_faces")
        if faces is not None:
            grouped_quantifier = with_calibration_faces(grouped_quantifier, *grouped_set, bandwidth=faces["bandwidth"])
    focus = [names.index(name) for name in focus_names if name in names]
    two = [names.index(name) for name in ("happy", "sad") if name in names]
    truths = {
        variant: group_probabilities(frames["true_shares"][np.newaxis], members)[0]
        for variant, frames in campaign.items()
    }
    figures: dict[str, Any] = {"groups": names, "estimators": {}}
    first, second = list(campaign)[:2]
    for estimator in estimators:
        errors = np.concatenate(
            [
                np.abs(
                    estimate_shares(probabilities[frames["face_indices"]], grouped_quantifier, estimator)
                    - truths[variant]
                )[focus]
                for variant, frames in campaign.items()
            ]
        )
        row: dict[str, Any] = {"largest_error": float(errors.max()), "mean_absolute_error": float(errors.mean())}
        if estimator in compared_estimators:
            comparison = paired_comparison(
                probabilities[campaign[first]["face_indices"]],
                campaign[first]["tester_ids"],
                probabilities[campaign[second]["face_indices"]],
                campaign[second]["tester_ids"],
                grouped_quantifier,
                estimator=estimator,
                samples=comparison_samples,
                seed=seed,
                calibration_set=grouped_set,
            )
            true_verdicts = _true_verdicts(truths[second] - truths[first])
            row["paired_test_right"] = all(comparison["verdict"][index] == true_verdicts[index] for index in two)
        figures["estimators"][estimator] = row
    return figures
