"""The product's share estimator on generated data, where the true mix of emotions is known."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_math import shares as share_math

from .generated import CLASS_NAMES, calibration_faces, generated_faces, means_per_tester

VARIANT_SHARES = [0.10, 0.0, 0.10, 0.15, 0.30, 0.05, 0.30]


def test_regularised_pacc_recovers_shares_under_label_shift_where_the_plain_mean_is_biased() -> None:
    probabilities, labels = calibration_faces(1000)
    quantifier = share_math.fit_quantifier(probabilities, labels, CLASS_NAMES)
    means, true_shares = means_per_tester(VARIANT_SHARES, testers=30, frames_per_tester=100, seed=1)
    estimate = share_math.estimate_shares(means, quantifier)
    assert estimate.sum() == pytest.approx(1.0)
    assert np.all(estimate >= 0)
    assert np.abs(estimate - true_shares).max() < 0.05
    # The weak model pulls the plain mean towards the calibration set's equal shares.
    assert np.abs(means.mean(axis=0) - true_shares).max() > 0.08
    assert np.isnan(share_math.estimate_shares(np.empty((0, len(CLASS_NAMES))), quantifier)).all()


def test_a_quantifier_stored_before_regularisation_is_refused_clearly() -> None:
    probabilities, labels = calibration_faces(100)
    quantifier = share_math.fit_quantifier(probabilities, labels, CLASS_NAMES)
    old = {key: quantifier[key] for key in ("class_names", "faces", "training_prior", "soft_matrix", "hard_matrix")}
    with pytest.raises(ValueError, match="refit it with fit_quantifier"):
        share_math.estimate_shares(probabilities, old)


def test_solve_shares_stays_on_the_simplex_when_observations_are_inconsistent() -> None:
    matrix = np.array([[0.8, 0.3], [0.2, 0.7]])
    shares = share_math.solve_shares(np.array([1.2, -0.1]), matrix)
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(shares >= 0)
    assert shares[0] == pytest.approx(1.0)
    np.testing.assert_allclose(share_math.solve_shares(matrix @ np.array([0.3, 0.7]), matrix), [0.3, 0.7], atol=1e-6)


def test_the_prior_weighs_less_with_more_or_better_separated_calibration_faces() -> None:
    def weight(faces_per_class: int, separation: float) -> float:
        labels = np.repeat(np.arange(len(CLASS_NAMES)), faces_per_class)
        probabilities = generated_faces(labels, separation=separation, seed=2)
        return share_math.fit_quantifier(probabilities, labels, CLASS_NAMES)["regularisation"]

    few, many = weight(50, 1.5), weight(500, 1.5)
    assert 0 < many < few
    assert few / many == pytest.approx(10, rel=0.2)  # noise variance falls as 1 / faces
    # A sharper model: probabilities spread more within a class, but each face says more; the weight is
    # only the noise, so it is measured, not assumed.
    assert weight(50, 3.0) != pytest.approx(few)


def test_regularised_solution_leans_towards_equal_shares_only_when_the_observations_leave_room() -> None:
    matrix = np.array([[0.6, 0.4], [0.4, 0.6]])  # a weak two-class model
    truth = np.array([0.9, 0.1])
    exact = share_math.solve_shares(matrix @ truth, matrix)
    leaning = share_math.solve_shares(matrix @ truth, matrix, regularisation=0.05)
    np.testing.assert_allclose(exact, truth, atol=1e-6)
    assert 0.5 < leaning[0] < truth[0]
    assert leaning.sum() == pytest.approx(1.0)
    # A well-separated model pins the shares down; the same prior barely moves them.
    sharp = np.array([[0.95, 0.05], [0.05, 0.95]])
    assert share_math.solve_shares(sharp @ truth, sharp, regularisation=0.05)[0] > leaning[0]


@pytest.mark.parametrize("regularisation", [0.0, 0.02])
def test_batched_share_solve_is_as_good_as_lsq_linear_on_problems_at_the_bounds(regularisation: float) -> None:
    """Bootstrap draws of a campaign where an emotion is missing: most solutions sit on a bound."""
    rng = np.random.default_rng(7)
    problems, classes = 200, 7
    matrices = np.abs(rng.normal(size=(problems, classes, classes))) * 0.1
    matrices += np.eye(classes) * rng.uniform(0.3, 0.9, size=(problems, 1, classes))
    matrices /= matrices.sum(axis=1, keepdims=True)
    truth = rng.dirichlet(np.full(classes, 0.3), size=problems)
    observed = np.einsum("kij,kj->ki", matrices, truth) + rng.normal(scale=0.05, size=(problems, classes))

    batched = share_math.solve_shares_batch(observed, matrices, regularisation=regularisation)
    one_by_one = np.array(
        [share_math.solve_shares(observed[k], matrices[k], regularisation=regularisation) for k in range(problems)]
    )

    def objective(shares: np.ndarray, k: int) -> float:
        target = np.full(classes, 1 / classes)
        residual = matrices[k] @ shares - observed[k]
        return float(
            residual @ residual
            + share_math.SUM_WEIGHT**2 * (shares.sum() - 1) ** 2
            + regularisation * np.sum((shares - target) ** 2)
        )

    assert (batched < 1e-9).any(axis=1).sum() > problems / 2  # the case that matters
    assert np.all(batched >= 0) and np.allclose(batched.sum(axis=1), 1)
    assert max(objective(batched[k], k) - objective(one_by_one[k], k) for k in range(problems)) < 1e-9
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
