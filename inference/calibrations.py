"""Calibrations of a model version: storing one, activating it, and applying it to predictions.

Prediction.probabilities always stay the model's raw output. The calibrated fields next to them
are a cache of the active calibration applied to those raw values, so activating a new
calibration rewrites them in bulk (numpy, no model run), and the dashboard can tell a row computed
with an older calibration by its `calibration_version`.

Contract for the workers (inference/services.py, frame_record_analysis):
    Prediction.objects.create(..., **prediction_calibrated_fields(model_version_id=..., probabilities=...))
Until that line is in, new predictions are calibrated by the recompute task the dashboard queues
when it sees stale rows.

Services and the recompute task live here rather than in services.py and tasks.py, which another
change is reworking; inference/apps.py imports this module so the worker registers the task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from celery import shared_task
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction

from config.celery import DEFAULT_QUEUE
from config.errors import ApplicationError
from emotion_math.calibration import apply_calibration
from inference.models import Calibration, ModelVersion, Prediction

logger = logging.getLogger(__name__)

RECALIBRATE_BATCH_SIZE = 2000
# Workers look the active calibration up at most this often per model version and process (one
# indexed query every few seconds, nothing per frame); an activation reaches them within this time,
# and the recompute task catches any row written meanwhile. Rows written with the old calibration
# count on their raw values until then, and the estimated shares leave them out, so keep it short.
ACTIVE_CALIBRATION_TTL_SECONDS = 5
# The dashboard refreshes every 1.5 s while frames stream in; one recompute per model per this long.
RECALIBRATE_QUEUE_THROTTLE_SECONDS = 30
_active_cache: dict[int, tuple[float, dict[str, Any] | None]] = {}


# --- Reads ---------------------------------------------------------------------------------------


def get_active_calibration(*, model_version_id: int) -> Calibration | None:
    return Calibration.objects.filter(model_version_id=model_version_id, is_active=True).first()


def _active_parameters(model_version_id: int) -> dict[str, Any] | None:
    """The active calibration's parameters, cached per process for ACTIVE_CALIBRATION_TTL_SECONDS."""
    now = time.monotonic()
    cached = _active_cache.get(model_version_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    parameters = (
        Calibration.objects.filter(model_version_id=model_version_id, is_active=True)
        .values_list("parameters", flat=True)
        .first()
    )
    _active_cache[model_version_id] = (now + ACTIVE_CALIBRATION_TTL_SECONDS, parameters)
    return parameters


def forget_cached_calibrations() -> None:
    _active_cache.clear()


def calibrate_rows(rows: Sequence[dict[str, float]], parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Raw {class: probability} rows -> the calibrated Prediction fields, one dict per row.

    A class missing from a raw row counts as probability 0 (apply_calibration floors it)."""
    class_names = list(parameters["class_names"])
    raw = np.array([[row.get(name, 0.0) for name in class_names] for row in rows], dtype=np.float64)
    calibrated = apply_calibration(raw.reshape(len(rows), len(class_names)), parameters)
    tops = calibrated.argmax(axis=1)
    return [
        {
            "calibration_version": parameters["version"],
            "calibrated_probabilities": dict(zip(class_names, np.round(row, 6).tolist(), strict=True)),
            "calibrated_top_class": class_names[top],
            "calibrated_top_probability": round(float(row[top]), 6),
        }
        for row, top in zip(calibrated, tops, strict=True)
    ]


def prediction_calibrated_fields(*, model_version_id: int, probabilities: dict[str, float]) -> dict[str, Any]:
    """The calibrated fields for a new prediction, or {} when the model version has no active
    calibration (the fields keep their blank defaults and the dashboard counts raw values)."""
    parameters = _active_parameters(model_version_id)
    if parameters is None:
        return {}
    return calibrate_rows([probabilities], parameters)[0]


# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def calibration_create(
    *,
    model_version: ModelVersion,
    result: dict[str, Any],
    raw_probabilities: np.ndarray,
    labels: np.ndarray,
    source: str = "",
    activate: bool = True,
) -> Calibration:
    """Store the output of emotion_math.calibration.calibrate (already checked on held-out faces) with the raw
    probabilities and labels of the faces, so counting quality and intervals can be recomputed at
    any threshold later. The same parameters again return the existing row."""
    parameters = result["parameters"]
    if list(parameters["class_names"]) != list(model_version.class_names):
        raise ApplicationError(
            "The calibration's class names differ from the model version's.",
            extra={"calibration": parameters["class_names"], "model_version": model_version.class_names},
        )
    if parameters.get("test_time_augmentation", "none") != Calibration.TestTimeAugmentation.NONE:
        # The workers classify the face only; a mirror-averaged calibration would not match their output.
        raise ApplicationError("The workers do not average mirror images; fit with test_time_augmentation 'none'.")
    calibration, _created = Calibration.objects.get_or_create(
        model_version=model_version,
        version=parameters["version"],
        defaults={
            "method": parameters["method"],
            "test_time_augmentation": parameters.get("test_time_augmentation", "none"),
            "parameters": parameters,
            "quantifier": result["quantifier"],
            "calibration_set": {
                "raw_probabilities": np.round(np.asarray(raw_probabilities, dtype=float), 6).tolist(),
                "labels": [int(label) for label in labels],
            },
            "metrics": {"check": result["check"], "split": result["split"]},
            "faces": len(labels),
            "split_seed": result["split"]["seed"],
            "source": source,
        },
    )
    if activate:
        calibration_activate(calibration=calibration)
    return calibration


@transaction.atomic
def calibration_activate(*, calibration: Calibration, recompute: bool = True) -> None:
    """Make it the model version's calibration and recompute its predictions after commit
    (`recompute=False` for a model version without predictions: nothing to queue)."""
    Calibration.objects.filter(model_version_id=calibration.model_version_id, is_active=True).exclude(
        pk=calibration.pk
    ).update(is_active=False)
    Calibration.objects.filter(pk=calibration.pk).update(is_active=True)
    calibration.is_active = True
    _active_cache.pop(calibration.model_version_id, None)
    model_version_id = calibration.model_version_id
    if recompute:
        transaction.on_commit(lambda: _queue_recalibration(model_version_id))


@transaction.atomic
def calibration_install_default(*, model_version: ModelVersion) -> Calibration | None:
    """Store and activate the shipped calibration (inference/default_calibration.py) for the
    default model, unless the model version already has an active calibration: one fitted with
    calibrate_model always wins. Raises ApplicationError when the data file was fitted on another
    model (name, version, class names or file differ)."""
    from inference.default_calibration import (
        ShippedCalibrationRefused,
        model_file_sha256,
        read_default_calibration,
        shipped_calibration_fields,
    )

    if Calibration.objects.filter(model_version=model_version, is_active=True).exists():
        return None
    try:
        fields = shipped_calibration_fields(
            read_default_calibration(),
            name=model_version.name,
            version=model_version.version,
            class_names=list(model_version.class_names),
            file_sha256=model_file_sha256(model_version.file_path),
        )
    except (ShippedCalibrationRefused, OSError) as error:
        raise ApplicationError(f"The shipped calibration cannot be used: {error}") from error
    version = fields.pop("version")
    calibration, _created = Calibration.objects.get_or_create(
        model_version=model_version, version=version, defaults=fields
    )
    # Existing predictions (an installation upgraded with the default model already serving) get
    # their calibrated fields from the recompute; a fresh installation has none.
    calibration_activate(
        calibration=calibration, recompute=Prediction.objects.filter(model_version=model_version).exists()
    )
    return calibration


def predictions_recalibrate(*, model_version_id: int, batch_size: int = RECALIBRATE_BATCH_SIZE) -> int:
    """Rewrite the calibrated fields of the model version's predictions that were not computed with
    its active calibration, from the stored raw probabilities. No model is loaded. Idempotent: a
    second run finds nothing stale. Returns the number of rows rewritten."""
    parameters = (
        Calibration.objects.filter(model_version_id=model_version_id, is_active=True)
        .values_list("parameters", flat=True)
        .first()
    )
    if parameters is None:
        return 0
    stale = Prediction.objects.filter(model_version_id=model_version_id).exclude(
        calibration_version=parameters["version"]
    )
    updated, last_pk = 0, 0
    while True:
        batch = list(stale.filter(pk__gt=last_pk).order_by("pk").only("pk", "probabilities")[:batch_size])
        if not batch:
            return updated
        for prediction, fields in zip(batch, calibrate_rows([p.probabilities for p in batch], parameters), strict=True):
            for name, value in fields.items():
                setattr(prediction, name, value)
        with transaction.atomic():
            Prediction.objects.bulk_update(batch, list(fields), batch_size=batch_size)
        updated += len(batch)
        last_pk = batch[-1].pk


# The aggregate inference.CalibratedSum holds, over any set of prediction rows: the triggers of
# migration 0004 run it over each statement's new and old rows; the rebuild over the table.
CALIBRATED_SUMS_OF = """
    SELECT campaign_id, model_version_id, calibration_version, tester_id, variant_id, class_name,
        count(*) AS frames, coalesce(sum(probability), 0) AS total
    FROM (
        SELECT p.campaign_id, p.model_version_id, p.calibration_version, p.tester_id, p.variant_id,
            item.key AS class_name, (item.value #>> '{{}}')::numeric AS probability
        FROM {rows} AS p CROSS JOIN LATERAL jsonb_each(p.calibrated_probabilities) AS item
        WHERE jsonb_typeof(item.value) = 'number'
        UNION ALL
        SELECT p.campaign_id, p.model_version_id, p.calibration_version, p.tester_id, p.variant_id, '', NULL
        FROM {rows} AS p
    ) AS parts
    GROUP BY 1, 2, 3, 4, 5, 6
"""

MEDIA_TIME_FRAMES_OF = """
    SELECT campaign_id, model_version_id, variant_id, media_time_ms, count(*) AS frames
    FROM {rows} AS p GROUP BY 1, 2, 3, 4
"""


@transaction.atomic
def calibrated_sums_rebuild(*, model_version_id: int) -> int:
    """Recompute the model version's CalibratedSum and MediaTimeFrames rows from its predictions,
    each in one INSERT ... SELECT ... GROUP BY (a repair: the triggers keep them current). Returns
    the CalibratedSum rows written."""
    from django.db import connection

    rows = "(SELECT * FROM inference_prediction WHERE model_version_id = %(model)s)"
    with connection.cursor() as cursor:
        # Writers of this model's predictions wait until the rebuild commits, so none is lost.
        cursor.execute("LOCK TABLE inference_prediction IN SHARE MODE")
        cursor.execute("DELETE FROM inference_calibratedsum WHERE model_version_id = %s", [model_version_id])
        # The sum of every class, and of the empty class name: every prediction (stale ones too).
        cursor.execute(
            "INSERT INTO inference_calibratedsum (campaign_id, model_version_id, calibration_version, tester_id,"
            " variant_id, class_name, frames, total) " + CALIBRATED_SUMS_OF.format(rows=rows),
            {"model": model_version_id},
        )
        written = cursor.rowcount
        cursor.execute("DELETE FROM inference_mediatimeframes WHERE model_version_id = %s", [model_version_id])
        cursor.execute(
            "INSERT INTO inference_mediatimeframes (campaign_id, model_version_id, variant_id, media_time_ms, frames) "
            + MEDIA_TIME_FRAMES_OF.format(rows=rows),
            {"model": model_version_id},
        )
        return written


def predictions_recalibrate_soon(*, model_version_id: int) -> bool:
    """Queue a recompute after commit, at most once per RECALIBRATE_QUEUE_THROTTLE_SECONDS per
    model version (the dashboard calls this on every refresh while it sees stale rows)."""
    if not cache.add(f"recalibrate-queued:{model_version_id}", 1, timeout=RECALIBRATE_QUEUE_THROTTLE_SECONDS):
        return False
    transaction.on_commit(lambda: _queue_recalibration(model_version_id))
    return True


def _queue_recalibration(model_version_id: int) -> None:
    import kombu.exceptions
    import redis.exceptions

    try:
        recalibrate_predictions.apply_async(args=[model_version_id], retry=False)
    except (kombu.exceptions.OperationalError, redis.exceptions.RedisError, OSError) as error:
        # Not lost: the dashboard keeps seeing stale rows and queues again once the broker answers.
        logger.warning("Could not queue the recompute for model version %s: %s", model_version_id, error)
        cache.delete(f"recalibrate-queued:{model_version_id}")


@shared_task(
    name="inference.recalibrate_predictions",
    queue=DEFAULT_QUEUE,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def recalibrate_predictions(model_version_id: int) -> int:
    return predictions_recalibrate(model_version_id=model_version_id)
