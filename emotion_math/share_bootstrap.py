"""Intervals and paired comparisons of estimated shares: the one bootstrap behind the dashboard's
figures and the study's simulations.

Each draw resamples, with replacement, the testers (a tester's frames are not independent of each
other, so resampling frames would give intervals that are too narrow) and, within each emotion, the
calibration faces: the matrix the estimator inverts comes from a few hundred faces, and its own
sampling error is often larger than the campaign's. The calibration faces are drawn from `seed` and
the testers from `seed + 1`, so the matrices depend on the calibration only (drawn once per
calibration) and the same draw resamples the same testers for every variant (a paired comparison).

The estimate is the product's (emotion_math.shares) on the mean of per-tester mean calibrated
probabilities, so every tester weighs the same. Each draw's bounded least squares is solved for all
draws at once by the unconstrained solution (pseudo-inverse), which is the bounded one whenever it
lies inside [0, 1]; only the draws outside go to shares.solve_shares_batch. The prior enters both as
extra rows of the system (sqrt(lambda) * I against sqrt(lambda) * equal shares), with the
quantifier's lambda.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotion_math.shares import SUM_WEIGHT, estimate_shares, fit_quantifier, solve_shares_batch

SAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ShareBootstrap:
    """The share estimator's quantifier with each draw's misclassification matrix and solver."""

    quantifier: dict
    regularisation: float  # the prior's weight lambda
    draw_matrices: np.ndarray  # samples x classes x classes
    draw_solvers: np.ndarray  # samples x classes x (2 classes + 1): pseudo-inverses of [M; w 1; sqrt(lambda) I]
    # The point estimate without bounds, shares = share_map @ observed + share_offset: linear, so the
    # mean of per-tester shares is the estimate of the mean (per_tester_shares).
    share_map: np.ndarray  # classes x classes
    share_offset: np.ndarray  # classes
    seed: int  # the testers are drawn from seed + 1

    @property
    def samples(self) -> int:
        return len(self.draw_matrices)


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration faces, calibrated, and the share bootstrap drawn from them."""

    class_names: tuple[str, ...]
    calibrated: np.ndarray  # faces x classes
    labels: np.ndarray
    bootstrap: ShareBootstrap


def resampled_calibration_faces(
    labels: np.ndarray, *, samples: int = SAMPLES, seed: int = SEED
) -> dict[int, np.ndarray]:
    """Per emotion with calibration faces: samples x its number of faces, the faces (indices into
    `labels`) each draw takes, with replacement within the emotion."""
    labels = np.asarray(labels)
    random = np.random.default_rng(seed)
    resampled = {}
    for class_index in np.unique(labels):
        members = np.flatnonzero(labels == class_index)
        resampled[int(class_index)] = members[random.integers(0, members.size, (samples, members.size))]
    return resampled


def tester_counts(tester_count: int, *, samples: int = SAMPLES, seed: int = SEED) -> np.ndarray:
    """samples x testers: how often each draw picked each tester (testers drawn with replacement)."""
    random = np.random.default_rng(seed + 1)
    chosen = random.integers(0, tester_count, (samples, tester_count))
    # Counted with one bincount over (draw, tester) cells: np.add.at took three times as long.
    cells = (np.arange(samples)[:, np.newaxis] * tester_count + chosen).ravel()
    return np.bincount(cells, minlength=samples * tester_count).reshape(samples, tester_count)


@functools.lru_cache(maxsize=2)
def tester_weights(tester_count: int, *, samples: int, seed: int) -> np.ndarray:
    """tester_counts / tester_count, read-only. Drawing them is most of a share bootstrap's time
    (about 35 ms for 1,000 testers; bench.dashboard, "estimated_shares") and with the fixed seed the
    same testers give the same weights: a dashboard built again reuses the last two (8 MB each at
    1,000 testers and 1,000 draws)."""
    weights = tester_counts(tester_count, samples=samples, seed=seed) / tester_count
    weights.flags.writeable = False
    return weights


def share_bootstrap(
    quantifier: dict,
    calibration_faces: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    samples: int = SAMPLES,
    seed: int = SEED,
) -> ShareBootstrap:
    """`calibration_faces`: the calibrated probabilities and labels the quantifier was fitted on;
    each draw's matrix is then their mean per emotion after resampling. Without them every draw keeps
    the quantifier's matrix, and the intervals hold the campaign's sampling error alone."""
    matrix = np.asarray(quantifier["soft_matrix"], dtype=np.float64)
    class_count = matrix.shape[1]
    if calibration_faces is None:
        draws = np.broadcast_to(matrix, (samples, class_count, class_count)).copy()
    else:
        calibrated, labels = np.asarray(calibration_faces[0], dtype=np.float64), calibration_faces[1]
        draws = np.broadcast_to(np.eye(class_count), (samples, class_count, class_count)).copy()
        for class_index, chosen in resampled_calibration_faces(labels, samples=samples, seed=seed).items():
            draws[:, :, class_index] = calibrated[chosen].mean(axis=1)
    regularisation = float(quantifier["regularisation"])
    prior_rows = np.broadcast_to(np.sqrt(regularisation) * np.eye(class_count), draws.shape)
    systems = np.concatenate([draws, np.full((samples, 1, class_count), SUM_WEIGHT), prior_rows], axis=1)
    point_system = np.vstack([matrix, np.full((1, class_count), SUM_WEIGHT), prior_rows[0]])
    point_solver = np.linalg.pinv(point_system)
    prior_target = np.full(class_count, np.sqrt(regularisation) / class_count)
    return ShareBootstrap(
        quantifier=quantifier,
        regularisation=regularisation,
        draw_matrices=draws,
        draw_solvers=np.linalg.pinv(systems),
        share_map=point_solver[:, :class_count],
        share_offset=point_solver[:, class_count:] @ np.concatenate([[SUM_WEIGHT], prior_target]),
        seed=seed,
    )


def calibration_set(
    calibrated: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    samples: int = SAMPLES,
    seed: int = SEED,
) -> CalibrationSet:
    """The quantifier is fitted on the calibration faces themselves, so a calibration stored before
    the regularised estimator (without its prior weight) gives the same estimates as a new one."""
    labels = np.asarray(labels)
    quantifier = fit_quantifier(calibrated, labels, class_names)
    return CalibrationSet(
        class_names=tuple(class_names),
        calibrated=calibrated,
        labels=labels,
        bootstrap=share_bootstrap(quantifier, (calibrated, labels), samples=samples, seed=seed),
    )


def solve_draws(observed: np.ndarray, bootstrap: ShareBootstrap) -> np.ndarray:
    """shares.solve_shares for every draw (row of `observed`, with its own matrix)."""
    class_count = observed.shape[1]
    prior = np.full((len(observed), class_count), np.sqrt(bootstrap.regularisation) / class_count)
    targets = np.concatenate([observed, np.full((len(observed), 1), SUM_WEIGHT), prior], axis=1)
    shares = np.einsum("kij,kj->ki", bootstrap.draw_solvers, targets)
    # Draws whose unconstrained solution leaves [0, 1]: most of them when an emotion is (nearly)
    # absent, so they are solved together (bench: bench.dashboard, "estimated_shares").
    outside = np.flatnonzero(np.any((shares < 0) | (shares > 1), axis=1))
    shares[outside] = solve_shares_batch(
        observed[outside], bootstrap.draw_matrices[outside], regularisation=bootstrap.regularisation
    )
    return shares / shares.sum(axis=1, keepdims=True)


def share_draws(means: np.ndarray, bootstrap: ShareBootstrap) -> tuple[np.ndarray, np.ndarray]:
    """`means`: testers x variants x classes, each tester's mean calibrated probabilities on each
    variant (testers with frames on every variant). Returns the estimated shares (variants x classes)
    and every draw's (variants x samples x classes); a draw takes the same testers and the same
    matrix for every variant, so differences of draws are paired."""
    weights = tester_weights(means.shape[0], samples=bootstrap.samples, seed=bootstrap.seed)
    estimates = np.stack(
        [estimate_shares(means[:, v].mean(axis=0, keepdims=True), bootstrap.quantifier) for v in range(means.shape[1])]
    )
    draws = np.stack([solve_draws(weights @ means[:, v], bootstrap) for v in range(means.shape[1])])
    return estimates, draws


def per_tester_shares(means: np.ndarray, bootstrap: ShareBootstrap) -> np.ndarray:
    """Each tester's estimated shares from their mean calibrated probabilities (`means`, as
    share_draws takes them): the estimator without its bounds, which is linear, so their mean over
    testers is the estimated share wherever that lies inside [0, 1]."""
    return means @ bootstrap.share_map.T + bootstrap.share_offset


def percentile_interval(draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - confidence) / 2
    return np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)


def p_values(differences: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value per class: how often a draw's difference falls on the other side of zero."""
    return np.minimum(1.0, 2 * np.minimum((differences <= 0).mean(axis=0), (differences >= 0).mean(axis=0)))
