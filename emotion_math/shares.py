"""The product's share estimator: how much of the time testers showed each emotion, estimated from
the mean of their calibrated probabilities (quantification), not from frames that pass a threshold.

Counting frames whose top emotion passes a threshold answers "how many frames is the model sure
about", not "how much of the time did testers look sad". Adjusted classify-and-count (Forman 2008;
Bella et al. 2010) corrects the observed mean by the misclassification matrix measured on the
labelled calibration faces: M[:, true class] is the mean prediction vector over calibration faces of
that class, so for a campaign whose emotions have shares s, the expected mean prediction is M @ s.
That holds under label shift (faces of one emotion look alike in both sets, only the mix changes).

Mimik solves it as a maximum a-posteriori estimate (regularised probabilistic adjusted
classify-and-count, "regularised PACC"), with a weak prior that the shares are near equal. The
matrix comes from a hundred or so faces per emotion, and the campaign's faces are other faces
again, so observed means miss M @ s by a few points; plain PACC inverts that error, amplified
wherever emotions are confused (sad with fear, angry and neutral for FER2013 models). The prior's
weight is not tuned: it is the ratio of that noise, measured on the calibration faces, to the
spread of a uniform Dirichlet prior (see `map_regularisation`). Every emotion of the model is
estimated on its own (grouping "emotions"). The estimators it was compared with, and the
simulations that chose it, are in ml.quantification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import lsq_linear

DEFAULT_ESTIMATOR = "regularised_probabilistic_adjusted_classify_and_count"
DEFAULT_GROUPING = "emotions"  # every emotion of the model on its own
# Version 2 adds what regularised PACC needs (faces per class, its prior's weight); quantifiers of
# version 1 (no "format" key) still serve the study's other estimators.
QUANTIFIER_FORMAT = "mimik-quantifier/2"
# Weight of the sum-to-one equation among the least-squares rows: heavy, so shares sum to one.
SUM_WEIGHT = 100.0


def one_hot_predictions(probabilities: np.ndarray) -> np.ndarray:
    probabilities = np.asarray(probabilities)
    hard = np.zeros_like(probabilities, dtype=np.float64)
    hard[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = 1.0
    return hard


def misclassification_matrix(probabilities: np.ndarray, labels: np.ndarray, *, soft: bool) -> np.ndarray:
    """M[predicted, true]: mean (soft) or share (hard) of predictions per true class.

    A class with no calibration faces gets the identity column, i.e. no correction for it."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    predictions = probabilities if soft else one_hot_predictions(probabilities)
    class_count = probabilities.shape[1]
    matrix = np.eye(class_count)
    for class_index in range(class_count):
        of_class = labels == class_index
        if of_class.any():
            matrix[:, class_index] = predictions[of_class].mean(axis=0)
    return matrix


def solve_shares(
    observed: np.ndarray, matrix: np.ndarray, *, regularisation: float = 0.0, target: np.ndarray | None = None
) -> np.ndarray:
    """Shares s >= 0 with sum 1 that best explain observed = M @ s (least squares).

    Sum-to-one enters as a heavily weighted extra equation; bounds keep every share in [0, 1].
    With `regularisation` (lambda), also minimises lambda * |s - target|^2 (target: equal shares)."""
    class_count = matrix.shape[1]
    rows = [matrix, SUM_WEIGHT * np.ones((1, class_count))]
    values = [np.asarray(observed, dtype=np.float64), [SUM_WEIGHT]]
    if regularisation > 0:
        rows.append(np.sqrt(regularisation) * np.eye(class_count))
        values.append(np.sqrt(regularisation) * (np.full(class_count, 1 / class_count) if target is None else target))
    shares = lsq_linear(np.vstack(rows), np.concatenate(values), bounds=(0.0, 1.0)).x
    return shares / shares.sum()


def solve_shares_batch(
    observed: np.ndarray, matrices: np.ndarray, *, regularisation: float = 0.0, max_rounds: int = 50
) -> np.ndarray:
    """solve_shares for many problems at once (row k of `observed` with `matrices[k]`), exactly.

    A bootstrap hands over hundreds of problems whose unconstrained solution leaves [0, 1] (an
    emotion nobody showed); one lsq_linear call each took about a second per variant. This is a
    batched active-set method on the normal equations: solve with the bounded shares held at
    their bound, hold every share that leaves [0, 1] at the bound it crossed, free the held share
    whose gradient says it should move inside, and stop when the Karush-Kuhn-Tucker conditions hold.
    A problem still unsettled after `max_rounds` goes to lsq_linear, so every answer is exact."""
    observed = np.asarray(observed, dtype=np.float64)
    matrices = np.asarray(matrices, dtype=np.float64)
    problems, class_count = observed.shape
    if problems == 0:
        return np.empty((0, class_count))
    target = np.full(class_count, 1 / class_count)
    identity = np.eye(class_count)
    gram = np.einsum("kri,krj->kij", matrices, matrices) + SUM_WEIGHT**2 + regularisation * identity
    linear = np.einsum("kri,kr->ki", matrices, observed) + SUM_WEIGHT**2 + regularisation * target
    at_lower = np.zeros((problems, class_count), dtype=bool)
    at_upper = np.zeros((problems, class_count), dtype=bool)
    shares = np.zeros((problems, class_count))
    settled = np.zeros(problems, dtype=bool)
    tolerance = 1e-10 * (1 + np.abs(linear).max(axis=1))
    for _ in range(max_rounds):
        todo = np.flatnonzero(~settled)
        if len(todo) == 0:
            break
        free = ~(at_lower[todo] | at_upper[todo])
        held = at_upper[todo].astype(np.float64)  # held shares: 1 at the upper bound, 0 at the lower
        system = gram[todo] * free[:, :, None] * free[:, None, :] + identity * ~free[:, None, :]
        right = np.where(free, linear[todo] - np.einsum("kij,kj->ki", gram[todo], held), held)
        solution = np.linalg.solve(system, right[..., None])[..., 0]
        below, above = free & (solution < -1e-12), free & (solution > 1 + 1e-12)
        crossed = below.any(axis=1) | above.any(axis=1)
        at_lower[todo] |= below
        at_upper[todo] |= above
        shares[todo] = np.clip(solution, 0.0, 1.0)
        # Inside the box: a held share whose gradient points inwards is freed (the worst one).
        gradient = np.einsum("kij,kj->ki", gram[todo], shares[todo]) - linear[todo]
        wrong = np.where(at_lower[todo], -gradient, 0.0) + np.where(at_upper[todo], gradient, 0.0)
        release = ~crossed & (wrong.max(axis=1) > tolerance[todo])
        rows, columns = np.flatnonzero(release), wrong.argmax(axis=1)[release]
        at_lower[todo[rows], columns] = False
        at_upper[todo[rows], columns] = False
        settled[todo[~crossed & ~release]] = True
    for problem in np.flatnonzero(~settled):
        shares[problem] = solve_shares(observed[problem], matrices[problem], regularisation=regularisation)
    return shares / shares.sum(axis=1, keepdims=True)


def uniform_prior_variance(class_count: int) -> float:
    """Variance of one share under a uniform Dirichlet prior over `class_count` classes."""
    return (class_count - 1) / (class_count**2 * (class_count + 1))


def map_regularisation(calibrated_probabilities: np.ndarray, labels: np.ndarray, class_count: int) -> float:
    """The prior's weight for regularised PACC: observation noise variance / prior variance.

    The observed mean misses M @ s because the campaign's faces of each emotion are not the
    calibration faces: per entry, variance sum_c s_c^2 var_c / n_c from the calibration faces
    (var_c: within-class variance of the probabilities, n_c: faces of class c), and as much again
    from the campaign's own faces (assumed about as many distinct faces). Evaluated at equal shares,
    averaged over entries. Divided by the variance of a share under a uniform Dirichlet prior, this
    is the weight that makes the least-squares solution the maximum a-posteriori one (Gaussian
    approximations of both). More or better-separated calibration faces give a weaker prior."""
    probabilities = np.asarray(calibrated_probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    noise = 0.0
    for class_index in range(class_count):
        members = probabilities[labels == class_index]
        if len(members) >= 2:
            noise += float(np.mean(members.var(axis=0, ddof=1))) / len(members) / class_count**2
    return 2 * noise / uniform_prior_variance(class_count)


def fit_quantifier(
    calibrated_probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    regularisation: float | None = None,
) -> dict:
    """What the estimator needs from the calibration faces; JSON-able, stored with the calibration.
    `regularisation` overrides the measured prior weight (a bootstrap draw keeps the original's)."""
    labels = np.asarray(labels)
    class_count = len(class_names)
    if regularisation is None:
        regularisation = map_regularisation(calibrated_probabilities, labels, class_count)
    return {
        "format": QUANTIFIER_FORMAT,
        "class_names": list(class_names),
        "faces": len(labels),
        "class_faces": np.bincount(labels, minlength=class_count).tolist(),
        "training_prior": (np.bincount(labels, minlength=class_count) / len(labels)).round(6).tolist(),
        "soft_matrix": misclassification_matrix(calibrated_probabilities, labels, soft=True).round(6).tolist(),
        "hard_matrix": misclassification_matrix(calibrated_probabilities, labels, soft=False).round(6).tolist(),
        "regularisation": round(float(regularisation), 8),
    }


def regularised_probabilistic_adjusted_classify_and_count(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    if "regularisation" not in quantifier:
        raise ValueError(
            "This quantifier was stored before regularised PACC existed (no 'regularisation'); refit it with "
            "fit_quantifier from its calibration faces, or choose another estimator."
        )
    return solve_shares(
        np.asarray(probabilities, dtype=np.float64).mean(axis=0),
        np.asarray(quantifier["soft_matrix"]),
        regularisation=float(quantifier["regularisation"]),
    )


def estimate_shares(probabilities: np.ndarray, quantifier: dict) -> np.ndarray:
    """The estimated share of each emotion in these frames (rows of calibrated probabilities, or one
    row of per-tester means); NaN for no frames."""
    if len(probabilities) == 0:
        return np.full(len(quantifier["class_names"]), np.nan)
    return regularised_probabilistic_adjusted_classify_and_count(probabilities, quantifier)
