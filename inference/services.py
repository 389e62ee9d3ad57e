"""Writes for inference: recording outcomes, registering models.

Frames reach the workers through sessions.analysis_queue. Used by the API and ml/:
- frame_quality_verdict: synchronous face + quality check for the tester's camera check page;
  nothing is stored.
- model_version_register: put a model file into the registry after checking that it loads and
  answers on a known face.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.live import publish_campaign_event
from config.errors import ApplicationError
from inference.calibrations import prediction_calibrated_fields
from inference.models import ModelVersion, Prediction
from inference.pipeline import FrameAnalysis
from sessions.models import BaselineSnapshot, Frame

logger = logging.getLogger(__name__)


def baseline_snapshot_record_analysis(
    *, snapshot_id: int, analysis: FrameAnalysis, model_version: ModelVersion | None
) -> bool:
    """Store a baseline snapshot's one outcome and, for a prediction, every class probability (raw,
    and calibrated with the model's active calibration) on its row. True if this call recorded
    it: the conditional UPDATE claims only a pending row, so a redelivered message changes
    nothing, and a row deleted meanwhile (the tester withdrew) is left alone."""
    values: dict[str, Any] = {
        "outcome": analysis.outcome,
        "outcome_at": timezone.now(),
        "quality": analysis.quality,
        "face_box": analysis.face_box or [],
    }
    if analysis.outcome == BaselineSnapshot.Outcome.PREDICTION and model_version is not None:
        values.update(
            model_version=model_version,
            probabilities=analysis.probabilities,
            top_class=analysis.top_class,
            top_probability=analysis.top_probability,
            **prediction_calibrated_fields(model_version_id=model_version.pk, probabilities=analysis.probabilities),
        )
    pending = BaselineSnapshot.objects.filter(pk=snapshot_id, outcome=BaselineSnapshot.Outcome.PENDING)
    return bool(pending.update(**values))


def baseline_snapshots_expire_stale(*, older_than: timedelta) -> int:
    """Baseline snapshots still pending long after upload lost their message: `expired`, so each
    ends in exactly one outcome, as frames do (frames_expire_stale)."""
    cutoff = timezone.now() - older_than
    stale = BaselineSnapshot.objects.filter(outcome=BaselineSnapshot.Outcome.PENDING, created_at__lt=cutoff)
    return stale.update(outcome=BaselineSnapshot.Outcome.EXPIRED, outcome_at=timezone.now())


def frame_quality_verdict(*, image_bytes: bytes) -> str:
    """'ok', or the outcome that would be recorded: 'no_face', 'multiple_faces', 'face_too_small',
    'too_dark', 'overexposed', 'blurred', 'undecodable'."""
    from inference.pipeline import inspect_image
    from inference.quality import Thresholds

    analysis, _crop = inspect_image(image_bytes, thresholds=Thresholds.from_settings(), min_crop_px=0)
    return "ok" if analysis.outcome == Frame.Outcome.PREDICTION else analysis.outcome


@dataclass
class FrameToRecord:
    """One frame's outcome on its way to the database."""

    frame: dict[str, Any]  # inference.selectors.FRAME_FIELDS_FOR_ANALYSIS of the frame
    analysis: FrameAnalysis
    model_version: ModelVersion | None  # None unless the outcome is a prediction
    image_bytes: bytes | None  # kept only when the campaign opted in


def frame_record_outcome(*, frame_id: int, outcome: str, quality: dict[str, Any] | None = None) -> bool:
    """Record an outcome without a prediction (expired, undecodable). False if already recorded."""
    return frame_record_analysis(
        frame_id=frame_id, analysis=FrameAnalysis(outcome, quality or {}), model_version=None, image_bytes=None
    )


def frame_record_analysis(
    *, frame_id: int, analysis: FrameAnalysis, model_version: ModelVersion | None, image_bytes: bytes | None
) -> bool:
    """One frame's `frames_record_analyses`; True if this call recorded its outcome."""
    from inference.selectors import FRAME_FIELDS_FOR_ANALYSIS

    frame = Frame.objects.filter(pk=frame_id).values(*FRAME_FIELDS_FOR_ANALYSIS).first()
    if frame is None:
        return False
    return frame_id in frames_record_analyses(items=[FrameToRecord(frame, analysis, model_version, image_bytes)])


def frames_record_analyses(*, items: list[FrameToRecord]) -> set[int]:
    """Store each frame's one outcome (and its prediction) in one transaction; returns the ids of
    the frames this call recorded. Idempotent: the conditional UPDATE claims only pending rows, so
    a redelivered message finds nothing to claim and changes nothing; the unique (frame,
    model_version) constraint backs it up. A frame deleted meanwhile (the tester withdrew) is left
    alone. Only fields that never change after upload are read from `item.frame`: the claim itself
    is decided by the UPDATE.

    On PostgreSQL one statement, whatever the number of frames: the claim UPDATE and the INSERT of
    the claimed frames' predictions (plus, for campaigns that keep snapshots, one UPDATE per kept
    file)."""
    if not items:
        return set()
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            claimed = _frames_claim_and_insert_predictions(items, now)
        else:
            claimed = _frames_claim_each(items, now)
            predictions = [
                _prediction(item)
                for item in items
                if item.frame["pk"] in claimed and item.analysis.outcome == Frame.Outcome.PREDICTION
            ]
            Prediction.objects.bulk_create(predictions)
        if not claimed:
            return claimed
        mine = [item for item in items if item.frame["pk"] in claimed]
        for item in mine:
            if item.image_bytes is not None and item.frame["campaign__keep_frames"]:
                _frame_keep_image(
                    frame_id=item.frame["pk"],
                    retention_days=item.frame["campaign__frame_retention_days"],
                    image_bytes=item.image_bytes,
                    now=now,
                )
        _publish_frame_events(mine)
    return claimed


def _frames_claim_each(items: list[FrameToRecord], now) -> set[int]:
    """The embedded SQLite: one conditional UPDATE per frame; the ids of those still pending."""
    return {
        item.frame["pk"]
        for item in items
        if Frame.objects.filter(pk=item.frame["pk"], outcome=Frame.Outcome.PENDING).update(
            outcome=item.analysis.outcome,
            outcome_at=now,
            quality=item.analysis.quality,
            head_turn_degrees=item.analysis.head_turn_degrees,
        )
    }


def _frames_claim_and_insert_predictions(items: list[FrameToRecord], now) -> set[int]:
    """PostgreSQL: set the outcome of those frames that are still pending and insert the
    predictions of exactly those, in one statement; their ids. The rows travel as two JSON
    documents (one json.dumps each, in C) rather than as SQL arrays or one parameter per value:
    psycopg quotes array elements and Django prepares model fields in Python, which cost the worker
    more CPU per frame than the statement itself."""
    frames = [
        {
            "id": item.frame["pk"],
            "outcome": item.analysis.outcome,
            "quality": item.analysis.quality,
            "head_turn_degrees": item.analysis.head_turn_degrees,
        }
        for item in items
    ]
    predictions = [_prediction_row(item) for item in items if item.analysis.outcome == Frame.Outcome.PREDICTION]
    with connection.cursor() as cursor:
        cursor.execute(_frames_claim_and_insert_sql(), [
            now, json.dumps(frames), Frame.Outcome.PENDING, now, json.dumps(predictions, default=_uuid_text),
        ])  # fmt: skip
        return {row[0] for row in cursor.fetchall()}


# The prediction columns written from a JSON row (created_at comes from the statement's `now`).
_PREDICTION_FIELDS = (
    "frame",
    "model_version",
    "campaign",
    "variant",
    "tester",
    "media_time_ms",
    "probabilities",
    "top_class",
    "top_probability",
    "face_box",
    "calibration_version",
    "calibrated_probabilities",
    "calibrated_top_class",
    "calibrated_top_probability",
)


@functools.cache
def _frames_claim_and_insert_sql() -> str:
    q = connection.ops.quote_name
    frame = {
        name: q(Frame._meta.get_field(name).column)
        for name in ("id", "outcome", "outcome_at", "quality", "head_turn_degrees")
    }
    fields = [Prediction._meta.get_field(name) for name in _PREDICTION_FIELDS]
    columns = ", ".join(q(field.column) for field in fields)
    record = ", ".join(f"{q(field.column)} {field.db_type(connection)}" for field in fields)
    created_at = q(Prediction._meta.get_field("created_at").column)
    return (
        "WITH claimed AS ("  # noqa: S608 - names from the models
        f"UPDATE {q(Frame._meta.db_table)} AS f SET {frame['outcome']} = v.outcome, "
        f"{frame['outcome_at']} = %s, {frame['quality']} = v.quality, "
        f"{frame['head_turn_degrees']} = v.head_turn_degrees "
        "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, outcome text, quality jsonb, head_turn_degrees float8) "
        f"WHERE f.{frame['id']} = v.id AND f.{frame['outcome']} = %s RETURNING f.{frame['id']} AS id"
        "), inserted AS ("
        f"INSERT INTO {q(Prediction._meta.db_table)} ({columns}, {created_at}) "
        f"SELECT {columns}, %s FROM jsonb_to_recordset(%s::jsonb) AS p({record}) "
        f"WHERE p.{q(fields[0].column)} IN (SELECT id FROM claimed)"
        ") SELECT id FROM claimed"
    )


def _uuid_text(value: Any) -> str:
    """JSON for the campaign, variant and tester ids (UUIDs); anything else is a bug, not text."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{value.__class__.__name__} is not JSON serializable")


# What a prediction stores when no calibration is active (the model's field defaults): the JSON
# row of `_frames_claim_and_insert_sql` names every column, so it must carry them too.
_UNCALIBRATED_FIELDS = {
    "calibration_version": "",
    "calibrated_probabilities": None,
    "calibrated_top_class": "",
    "calibrated_top_probability": None,
}


def _prediction_row(item: FrameToRecord) -> dict[str, Any]:
    """A prediction as the JSON row `_frames_claim_and_insert_sql` reads: the values `_prediction`
    stores, its blank calibrated fields included."""
    return {**_UNCALIBRATED_FIELDS, **_prediction_values(item)}


def _prediction_values(item: FrameToRecord) -> dict[str, Any]:
    frame, analysis = item.frame, item.analysis
    return {
        "frame_id": frame["pk"],
        "model_version_id": item.model_version.pk,
        "campaign_id": frame["campaign_id"],
        "variant_id": frame["variant_id"],
        "tester_id": frame["tester_id"],
        "media_time_ms": frame["media_time_ms"],
        "probabilities": analysis.probabilities,
        "top_class": analysis.top_class,
        "top_probability": analysis.top_probability,
        "face_box": analysis.face_box or [],
        # The active calibration (cached per process) applied to the raw probabilities.
        **prediction_calibrated_fields(model_version_id=item.model_version.pk, probabilities=analysis.probabilities),
    }


def _prediction(item: FrameToRecord) -> Prediction:
    return Prediction(**_prediction_values(item))


def _publish_frame_events(items: list[FrameToRecord]) -> None:
    """One live event per campaign for the whole batch: its last frame, standing for all of them
    (dashboards refetch their figures on any event; campaigns.live coalesces further)."""
    last: dict[Any, tuple[FrameToRecord, int]] = {}
    for item in items:
        campaign_id = item.frame["campaign_id"]
        last[campaign_id] = (item, last.get(campaign_id, (None, 0))[1] + 1)
    for campaign_id, (item, count) in last.items():
        frame, analysis = item.frame, item.analysis
        publish_campaign_event(
            campaign_id=campaign_id,
            event={
                "kind": "frame",
                "variant_id": str(frame["variant_id"]),
                "outcome": analysis.outcome,
                "top_class": analysis.top_class,
                "top_probability": analysis.top_probability,
                "media_time_ms": frame["media_time_ms"],
            },
            frames=count,
        )


def _frame_keep_image(*, frame_id: int, retention_days: int, image_bytes: bytes, now) -> None:
    """Only for campaigns that opted in. The file is written before the row points at it; if the
    transaction then fails, the file is removed again so no snapshot is left without a row."""
    name = default_storage.save(f"frames/{now:%Y/%m/%d}/frame-{frame_id}.jpg", ContentFile(image_bytes))
    try:
        Frame.objects.filter(pk=frame_id).update(kept_image=name, retain_until=now + timedelta(days=retention_days))
    except Exception:
        default_storage.delete(name)
        raise


def frames_expire_stale(*, older_than: timedelta) -> int:
    """Frames still pending long after upload lost their message (e.g. Redis lost its data):
    give them the `expired` outcome so every frame ends in exactly one outcome (1,000 a call)."""
    from inference.selectors import FRAME_FIELDS_FOR_ANALYSIS

    cutoff = timezone.now() - older_than
    stale = Frame.objects.filter(outcome=Frame.Outcome.PENDING, received_at__lt=cutoff).values(
        *FRAME_FIELDS_FOR_ANALYSIS
    )
    items = [FrameToRecord(frame, FrameAnalysis(Frame.Outcome.EXPIRED), None, None) for frame in stale[:1000]]
    return len(frames_record_analyses(items=items))


def frames_purge_kept_images(*, now=None) -> int:
    """Delete kept snapshots whose retention date has passed, file first, then the reference."""
    now = now or timezone.now()
    purged = 0
    for frame in Frame.objects.filter(retain_until__lt=now).exclude(kept_image="").only("pk", "kept_image"):
        if frame.kept_image:
            frame.kept_image.storage.delete(frame.kept_image.name)
        purged += Frame.objects.filter(pk=frame.pk).update(kept_image="", retain_until=None)
    return purged


# --- Model registry ---------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_version_check(*, model_version: ModelVersion) -> dict[str, Any]:
    """Load the file and ask it about the known face. Raises ApplicationError with the reason when
    the file is missing, does not load, or does not answer one probability per class name."""
    from inference.classifier import EmotionClassifier
    from inference.pipeline import known_face_probabilities, spec_for

    try:
        spec = spec_for(model_version)
    except Exception as error:  # a missing wheel raises PackageNotFoundError
        raise ApplicationError(f"Model file not found: {error}") from error
    if not spec.file_path.is_file():
        raise ApplicationError(f"Model file not found: {spec.file_path}", extra={"file_path": str(spec.file_path)})
    try:
        classifier = EmotionClassifier(spec)
        row = known_face_probabilities(classifier)
    except Exception as error:  # any loader or shape error means "cannot serve"; say which
        raise ApplicationError(
            f"The model did not load or answer: {error.__class__.__name__}: {error}",
            extra={"file_path": str(spec.file_path)},
        ) from error
    if row.shape != (len(spec.class_names),):
        raise ApplicationError(
            f"The model answers {row.shape[-1]} values but {len(spec.class_names)} class names were given.",
            extra={"class_names": list(spec.class_names)},
        )
    if not np.all(np.isfinite(row)) or abs(float(row.sum()) - 1.0) > 0.01 or row.min() < 0:
        raise ApplicationError(
            "The model's outputs are not probabilities; if it outputs logits, register it with outputs_logits.",
            extra={"known_face_output": [float(value) for value in row]},
        )
    top = int(np.argmax(row))
    return {"top_class": spec.class_names[top], "top_probability": round(float(row[top]), 4)}


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion) -> None:
    ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True)
    model_version.is_active = True


def model_version_register(
    *,
    name: str,
    version: str,
    file_path: str,
    framework: str,
    class_names: list[str],
    input_size: int,
    color_mode: str,
    scaling: str,
    outputs_logits: bool = False,
    source: str = "",
    metrics: dict | None = None,
    notes: str = "",
    model_card: str = "",
    activate: bool = False,
) -> ModelVersion:
    """Check the model (loads, answers on the known face), then store it. The known-face answer
    is kept in `metrics["known_face"]`, so a reviewer sees what the model made of a smiling face.
    `model_card` is the Markdown card (ml.model_card) researchers read from the dashboard."""
    from inference.model_files import resolve_model_file

    if ModelVersion.objects.filter(name=name, version=version).exists():
        raise ApplicationError(f"{name} {version} is already registered.", status_code=409)
    if framework not in ModelVersion.Framework.values:
        raise ApplicationError(f"Unknown framework {framework!r}.", extra={"choices": ModelVersion.Framework.values})
    model_version = ModelVersion(
        name=name,
        version=version,
        file_path=file_path,
        framework=framework,
        class_names=list(class_names),
        input_size=input_size,
        color_mode=color_mode,
        scaling=scaling,
        outputs_logits=outputs_logits,
        source=source,
        metrics=dict(metrics or {}),
        notes=notes,
        model_card=model_card,
    )
    model_version.full_clean(exclude=["sha256"], validate_unique=False)
    known_face = model_version_check(model_version=model_version)
    model_version.metrics["known_face"] = known_face
    model_version.sha256 = _sha256(resolve_model_file(file_path))
    with transaction.atomic():
        model_version.save()
        if activate:
            model_version_activate(model_version=model_version)
    return model_version


@transaction.atomic
def model_version_ensure_default() -> ModelVersion:
    """(Re)register the bundled FER2013 model; make it active when no model is; give it the shipped
    calibration when it has no active one (inference.default_calibration). Safe to repeat."""
    from inference.calibrations import calibration_install_default
    from inference.default_model import DEFAULT_MODEL, DEFAULT_MODEL_CARD

    # The card is kept apart from DEFAULT_MODEL because migration 0002 builds the row from all of
    # DEFAULT_MODEL's keys, before the model_card column exists.
    defaults = {key: value for key, value in DEFAULT_MODEL.items() if key not in ("name", "version")}
    defaults["model_card"] = DEFAULT_MODEL_CARD
    model_version, _created = ModelVersion.objects.get_or_create(
        name=DEFAULT_MODEL["name"], version=DEFAULT_MODEL["version"], defaults=defaults
    )
    if not ModelVersion.objects.filter(is_active=True).exists():
        model_version_activate(model_version=model_version)
    try:
        calibration_install_default(model_version=model_version)  # its own savepoint
    except (ApplicationError, IntegrityError) as error:
        # Serving goes on uncalibrated (the dashboard says so); a racing process may have installed it.
        logger.warning("Shipped calibration not installed for %s: %s", model_version, error)
    return model_version
