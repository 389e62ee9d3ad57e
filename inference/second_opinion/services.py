"""The second opinion's writes: registering its model, turning it on for a campaign, queueing a
face crop (the primary worker calls it) and storing the second model's prediction (the task calls
it, and tests directly)."""

from __future__ import annotations

import base64
import binascii
import io
import logging

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery

from config.errors import ApplicationError
from inference.models import ModelVersion, Prediction
from inference.second_opinion.model import SECOND_OPINION_MODEL

logger = logging.getLogger(__name__)

# The crop travels inside the message: at most this many pixels a side, gray, PNG (a few kB).
CROP_MAX_PX = 96


# --- Registry and campaigns -------------------------------------------------------------------


def second_opinion_model_ensure() -> ModelVersion:
    """Register the facex model (checked on the known face first), never as the active model.
    Safe to repeat and to race: a second caller gets the row the first one stored."""
    from inference.services import model_version_register

    existing = ModelVersion.objects.filter(
        name=SECOND_OPINION_MODEL["name"], version=SECOND_OPINION_MODEL["version"]
    ).first()
    if existing is not None:
        return existing
    try:
        return model_version_register(**SECOND_OPINION_MODEL, activate=False)
    except (ApplicationError, IntegrityError):
        # Registered by someone else meanwhile (409 / unique constraint); anything else re-raises.
        existing = ModelVersion.objects.filter(
            name=SECOND_OPINION_MODEL["name"], version=SECOND_OPINION_MODEL["version"]
        ).first()
        if existing is None:
            raise
        return existing


def campaign_second_model_set(*, campaign_id, model_version: ModelVersion | None) -> bool:
    """Turn the second opinion on (a model) or off (None) for one campaign. False if no such campaign."""
    from campaigns.models import Campaign

    model_version_id = model_version.pk if model_version is not None else None
    return bool(Campaign.objects.filter(pk=campaign_id).update(second_model_version_id=model_version_id))


# --- Queueing (called by the primary worker) --------------------------------------------------


def encode_face_crop(face_crop: np.ndarray) -> str:
    """uint8 face crop (gray or RGB) -> base64 of a gray PNG at most CROP_MAX_PX a side."""
    from PIL import Image

    face = np.asarray(face_crop)
    image = Image.fromarray(face if face.ndim == 2 else face[:, :, 0] if face.shape[2] == 1 else face[:, :, :3])
    image = image.convert("L")
    if max(image.size) > CROP_MAX_PX:
        image.thumbnail((CROP_MAX_PX, CROP_MAX_PX), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_face_crop(face_crop_png_b64: str) -> np.ndarray | None:
    """The message's crop as a uint8 gray array, or None when it is not a PNG we can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = base64.b64decode(face_crop_png_b64, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or max(image.size) > 4 * CROP_MAX_PX:
                return None
            return np.asarray(image.convert("L"))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        return None


def queue_second_opinion(*, frame_id: int, model_version_id: int, face_crop: np.ndarray) -> None:
    """Queue the second model for this frame once the current transaction commits (at once when
    there is none). A broker that refuses the message costs the second opinion for this frame,
    never the primary outcome: the error is logged, not raised, and nothing is retried here."""
    from inference.second_opinion.tasks import second_opinion

    payload = encode_face_crop(face_crop)

    def publish() -> None:
        try:
            second_opinion.apply_async(args=[frame_id, model_version_id, payload], retry=False)
        except Exception as error:  # broker down: the primary result stands without a second opinion
            logger.warning("Second opinion for frame %s not queued: %s", frame_id, error)

    transaction.on_commit(publish, robust=True)


# --- The work (called by the task, and by tests directly) -------------------------------------


def prediction_record_second_opinion(*, frame_id: int, model_version_id: int, face_crop: np.ndarray) -> bool:
    """Score the crop with the second model and store its Prediction. Idempotent: the unique
    (frame, model_version) constraint turns a repeat into a no-op (the model is not even run when
    the row is already there). Returns True if this call stored the prediction.

    Two queries: one SELECT (the frame's fields, whether the prediction exists, the primary's face
    box) and the INSERT."""
    from inference.pipeline import get_classifier
    from inference.selectors import get_model_version_cached
    from sessions.models import Frame

    model_version = get_model_version_cached(model_version_id=model_version_id)
    if model_version is None:
        return False  # the model was removed from the registry meanwhile
    primary = Prediction.objects.filter(frame_id=OuterRef("pk")).exclude(model_version_id=model_version_id)
    frame = (
        Frame.objects.filter(pk=frame_id)
        .annotate(
            done=Exists(Prediction.objects.filter(frame_id=OuterRef("pk"), model_version_id=model_version_id)),
            primary_face_box=Subquery(primary.order_by("pk").values("face_box")[:1]),
        )
        .values("campaign_id", "variant_id", "tester_id", "media_time_ms", "done", "primary_face_box")
        .first()
    )
    if frame is None or frame["done"]:
        return False  # withdrawn meanwhile, or a redelivery
    row = get_classifier(model_version).predict_faces([face_crop])[0]
    top = int(np.argmax(row))
    class_names = list(model_version.class_names)
    try:
        with transaction.atomic():
            Prediction.objects.create(
                frame_id=frame_id,
                model_version_id=model_version_id,
                campaign_id=frame["campaign_id"],
                variant_id=frame["variant_id"],
                tester_id=frame["tester_id"],
                media_time_ms=frame["media_time_ms"],
                probabilities={name: round(float(p), 6) for name, p in zip(class_names, row, strict=True)},
                top_class=class_names[top],
                top_probability=float(row[top]),
                face_box=frame["primary_face_box"] or [],
            )
    except IntegrityError:
        # A concurrent copy of this message stored it first, or the frame was deleted meanwhile.
        return False
    return True
