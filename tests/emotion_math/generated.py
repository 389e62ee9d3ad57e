"""A weak simulated model whose truth is known (seven classes, accuracy about 0.58 like the FER2013
mini-Xception): features N(separation * e_c, I), posteriors softmax(separation * x) under equal priors."""

from __future__ import annotations

import numpy as np

from emotion_math.calibration import softmax

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HAPPY, SAD, NEUTRAL = 3, 4, 6


def generated_faces(labels: np.ndarray, *, separation: float = 1.5, seed: int = 0) -> np.ndarray:
    """Calibrated probabilities of the simulated model for faces with the given labels."""
    random = np.random.default_rng(seed)
    features = random.normal(size=(len(labels), len(CLASS_NAMES))) + separation * np.eye(len(CLASS_NAMES))[labels]
    return softmax(separation * features)


def calibration_faces(faces_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(len(CLASS_NAMES)), faces_per_class)
    return generated_faces(labels, seed=seed), labels


def means_per_tester(
    shares: list[float], *, testers: int, frames_per_tester: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each tester's mean calibrated probabilities (testers x classes) over frames drawn with the
    given shares, and the true shares of all those frames."""
    labels = np.random.default_rng(seed).choice(len(CLASS_NAMES), size=testers * frames_per_tester, p=shares)
    probabilities = generated_faces(labels, seed=seed + 100)
    means = probabilities.reshape(testers, frames_per_tester, len(CLASS_NAMES)).mean(axis=1)
    return means, np.bincount(labels, minlength=len(CLASS_NAMES)) / len(labels)


def generated_model(
    faces_per_class: int, *, separation: float = 1.5, overconfidence: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of a simulated model; overconfidence 1 means perfectly calibrated."""
    random = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASS_NAMES)), faces_per_class)
    features = random.normal(size=(len(labels), len(CLASS_NAMES))) + separation * np.eye(len(CLASS_NAMES))[labels]
    return softmax(separation * features * overconfidence), labels
