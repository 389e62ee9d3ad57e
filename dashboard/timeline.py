"""The timeline of video variants: happy and sad shares per bin of media time, so a researcher sees
where in the video the faces changed."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from django.db.models import Count, F

from campaigns.models import Campaign, Variant
from dashboard import counting
from inference.models import Calibration, ModelVersion, Prediction


def timeline(
    *,
    campaign: Campaign,
    model: ModelVersion,
    threshold: float,
    variants: list[Variant],
    excluded: list[uuid.UUID],
    calibration: Calibration | None = None,
    stale: bool = True,
) -> dict[str, Any]:
    """Happy and sad shares per media-time bin for video variants, one statement."""
    bin_ms = max(1000, round(campaign.capture_interval_seconds * 1000))
    videos = [variant for variant in variants if variant.kind == Variant.Kind.VIDEO]
    if not videos:
        return {"bin_ms": bin_ms, "variants": []}
    if calibration is not None and not stale and counting.sums_available():
        rows = _timeline_from_counts(
            campaign=campaign, model=model, threshold=threshold, videos=videos, excluded=excluded, bin_ms=bin_ms
        )
    else:
        rows = _timeline_from_predictions(
            campaign=campaign,
            model=model,
            threshold=threshold,
            videos=videos,
            excluded=excluded,
            bin_ms=bin_ms,
            calibration=calibration,
            stale=stale,
        )
    series: dict[uuid.UUID, list[dict[str, Any]]] = {variant.pk: [] for variant in videos}
    for variant_id, bin_number, frames, happy, sad in rows:
        series[variant_id].append(
            {"start_ms": bin_number * bin_ms, "frames": frames, "happy": happy / frames, "sad": sad / frames}
        )
    return {
        "bin_ms": bin_ms,
        "variants": [{"variant_id": str(v.pk), "label": v.label, "bins": series[v.pk]} for v in videos],
    }


def _timeline_from_counts(
    *,
    campaign: Campaign,
    model: ModelVersion,
    threshold: float,
    videos: list[Variant],
    excluded: list[uuid.UUID],
    bin_ms: int,
) -> list[tuple]:
    """Every prediction current: frames per bin from inference.MediaTimeFrames (kept by triggers)
    less the excluded testers' frames, and the confident happy and sad frames from the range of the
    `prediction_confident` index at or above the threshold; one statement."""
    statement = """
        SELECT variant_id, bin, sum(frames)::int, sum(happy)::int, sum(sad)::int FROM (
            SELECT variant_id, media_time_ms / %(bin)s AS bin, sum(frames) AS frames, 0 AS happy, 0 AS sad
            FROM inference_mediatimeframes
            WHERE campaign_id = %(campaign)s AND model_version_id = %(model)s AND variant_id = ANY(%(videos)s::uuid[])
            GROUP BY 1, 2
            UNION ALL
            SELECT variant_id, media_time_ms / %(bin)s, -count(*), 0, 0
            FROM inference_prediction
            WHERE campaign_id = %(campaign)s AND model_version_id = %(model)s AND variant_id = ANY(%(videos)s::uuid[])
                AND tester_id = ANY(%(excluded)s::uuid[])
            GROUP BY 1, 2
            UNION ALL
            SELECT variant_id, media_time_ms / %(bin)s, 0,
                count(*) FILTER (WHERE calibrated_top_class = 'happy'),
                count(*) FILTER (WHERE calibrated_top_class = 'sad')
            FROM inference_prediction
            WHERE campaign_id = %(campaign)s AND model_version_id = %(model)s AND variant_id = ANY(%(videos)s::uuid[])
                AND calibrated_top_probability >= %(threshold)s AND calibrated_top_class IN ('happy', 'sad')
                AND NOT tester_id = ANY(%(excluded)s::uuid[])
            GROUP BY 1, 2
        ) AS parts
        GROUP BY 1, 2 HAVING sum(frames) > 0 ORDER BY 1, 2
    """
    parameters = {
        "bin": bin_ms,
        "campaign": campaign.pk,
        "model": model.pk,
        "videos": [variant.pk for variant in videos],
        "excluded": list(excluded),
        "threshold": threshold,
    }
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        return cursor.fetchall()


def _timeline_from_predictions(
    *,
    campaign: Campaign,
    model: ModelVersion,
    threshold: float,
    videos: list[Variant],
    excluded: list[uuid.UUID],
    bin_ms: int,
    calibration: Calibration | None,
    stale: bool,
) -> Any:
    """One GROUP BY (variant, bin) over all the predictions, counting as `counting.confident_as` says."""
    return (
        Prediction.objects.filter(campaign=campaign, model_version=model, variant__in=videos)
        .exclude(tester_id__in=excluded)
        .annotate(bin=F("media_time_ms") / bin_ms)  # integer division in PostgreSQL
        .values_list("variant_id", "bin")
        .annotate(
            frames=Count("*"),
            happy=Count("pk", filter=counting.confident_as("happy", threshold, calibration, stale=stale)),
            sad=Count("pk", filter=counting.confident_as("sad", threshold, calibration, stale=stale)),
        )
        .order_by("variant_id", "bin")
    )
