"""Generated data for the calibration tests: a simulated over-confident model whose truth is known.

Faces of emotion c have features x ~ N(separation * e_c, I); the model answers
softmax(overconfidence * separation * x), so with overconfidence 3 it is sure of itself far more
often than it is right (as the FER2013 model is), and a temperature near 3 calibrates it.
No image and no model file: the model version's file points nowhere, so any attempt to load it fails.
"""

from __future__ import annotations

import copy
import functools
import uuid
from dataclasses import dataclass

import numpy as np

from campaigns.models import Campaign, Organisation, Variant
from emotion_math import calibration as calibration_math
from emotion_math.calibration import calibrate
from emotion_math.report import to_jsonable
from inference.calibrations import calibration_create
from inference.default_model import DEFAULT_MODEL
from inference.models import Calibration, ModelVersion, Prediction
from sessions.models import Frame, Tester

CLASS_NAMES = tuple(DEFAULT_MODEL["class_names"])
MISSING_MODEL_FILE = "/nonexistent/never-loaded.tflite"


def model_answers(labels: np.ndarray, *, seed: int, separation: float = 1.5, overconfidence: float = 3.0) -> np.ndarray:
    random = np.random.default_rng(seed)
    features = random.normal(size=(len(labels), len(CLASS_NAMES))) + separation * np.eye(len(CLASS_NAMES))[labels]
    return calibration_math.softmax(separation * features * overconfidence)


def labelled_faces(faces_per_class: int, *, seed: int, **options: float) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(len(CLASS_NAMES)), faces_per_class)
    return model_answers(labels, seed=seed, **options), labels


def unloadable_model(name: str = "generated") -> ModelVersion:
    return ModelVersion.objects.create(
        **{**DEFAULT_MODEL, "name": name, "version": uuid.uuid4().hex[:8], "file_path": MISSING_MODEL_FILE}
    )


@functools.cache
def fitted_calibration(seed: int, methods: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Faces and fit, once per test process: the fit is deterministic and takes seconds."""
    probabilities, labels = labelled_faces(300, seed=seed)
    result = calibrate(probabilities, labels, class_names=CLASS_NAMES, methods=list(methods), seed=seed)
    return probabilities, labels, to_jsonable(result)


def store_calibration(
    model: ModelVersion, *, seed: int = 100, methods: tuple[str, ...] = ("temperature",), activate: bool = True
) -> Calibration:
    """Fit on generated labelled faces (emotion_math.calibration.calibrate, held-out check included) and store it."""
    probabilities, labels, result = fitted_calibration(seed, tuple(methods))
    return calibration_create(
        model_version=model,
        result=copy.deepcopy(result),
        raw_probabilities=probabilities,
        labels=labels,
        source="generated",
        activate=activate,
    )


@dataclass
class GeneratedCampaign:
    campaign: Campaign
    variants: list[Variant]
    raw: dict[str, np.ndarray]  # variant label -> frames x classes, in frame order
    labels: dict[str, np.ndarray]
    tester_of_frame: dict[str, np.ndarray]


def generated_campaign(
    model: ModelVersion,
    *,
    variant_shares: dict[str, list[float]],
    testers: int = 30,
    frames_per_tester: int = 40,
    seed: int = 0,
    threshold: float = 0.8,
) -> GeneratedCampaign:
    """Every tester sees every variant; each tester's mix is drawn around the variant's shares."""
    random = np.random.default_rng(seed)
    organisation = Organisation.objects.create(name=f"Generated {seed}")
    campaign = Campaign.objects.create(
        organisation=organisation,
        name="Generated",
        model_version=model,
        confidence_threshold=threshold,
        min_frames_per_tester=1,
    )
    variants = [
        Variant.objects.create(
            campaign=campaign, label=label, kind="image", file=f"v/{label}.png", content_type="image/png", position=i
        )
        for i, label in enumerate(variant_shares)
    ]
    tester_rows = Tester.objects.bulk_create(
        Tester(campaign=campaign, token_hash=uuid.uuid4().hex, camera="granted", variant_order=[])
        for _ in range(testers)
    )
    raw, labels, tester_of_frame = {}, {}, {}
    for variant, shares in zip(variants, variant_shares.values(), strict=True):
        frame_labels, frame_testers = [], []
        for tester_index in range(testers):
            mix = random.dirichlet(np.asarray(shares) * 30 + 1e-3)
            frame_labels.extend(random.choice(len(CLASS_NAMES), size=frames_per_tester, p=mix))
            frame_testers.extend([tester_index] * frames_per_tester)
        labels[variant.label] = np.asarray(frame_labels)
        tester_of_frame[variant.label] = np.asarray(frame_testers)
        raw[variant.label] = np.round(model_answers(labels[variant.label], seed=seed + 1 + variant.position), 6)
        frames = Frame.objects.bulk_create(
            Frame(
                campaign=campaign,
                tester=tester_rows[tester_index],
                variant=variant,
                sequence=sequence,
                media_time_ms=sequence * 1000,
                outcome=Frame.Outcome.PREDICTION,
            )
            for sequence, tester_index in enumerate(frame_testers)
        )
        Prediction.objects.bulk_create(
            prediction_row(model, frame, probabilities)
            for frame, probabilities in zip(frames, raw[variant.label], strict=True)
        )
    return GeneratedCampaign(campaign, variants, raw, labels, tester_of_frame)


def prediction_row(model: ModelVersion, frame: Frame, probabilities: np.ndarray) -> Prediction:
    """As the worker writes it today: raw probabilities only, no calibrated fields."""
    top = int(np.argmax(probabilities))
    return Prediction(
        frame=frame,
        model_version=model,
        campaign_id=frame.campaign_id,
        variant_id=frame.variant_id,
        tester_id=frame.tester_id,
        media_time_ms=frame.media_time_ms,
        probabilities=dict(zip(CLASS_NAMES, probabilities.tolist(), strict=True)),
        top_class=CLASS_NAMES[top],
        top_probability=float(probabilities[top]),
    )
