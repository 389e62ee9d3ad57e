"""Moments: second by second of each variant, the estimated share of every emotion with its interval
over testers, whether the testers were looking at the screen, and what happened around the
researcher's markers (the seconds after each against the seconds before).

The shares use the dashboard's estimator (emotion_math.share_bootstrap, the calibration's
misclassification matrix and a bootstrap over testers), fed with each tester's mean calibrated
probabilities within the second. A second covered by fewer testers than MIN_AUDIENCE_TESTERS shows
no figure, only how many testers it has: too few to estimate, and too few to keep a tester unknown.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, F, FloatField, IntegerField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Abs, Cast
from django.urls import reverse

from campaigns.models import Campaign, Marker, Variant
from dashboard import calibrated
from dashboard.counting import active_calibration
from dashboard.matrix import tester_matrix
from dashboard.wording import emotion_name
from emotion_math.share_bootstrap import CONFIDENCE, p_values, percentile_interval, share_draws
from inference.models import Calibration, Prediction
from inference.selectors import get_model_for_campaign
from sessions.models import Frame

SECOND_MS = 1000
# A marker's effect: the testers' faces in this many seconds after it against as many before it.
MARKER_WINDOW_SECONDS = 3
# Frames whose analysis ended in one of these say nothing about where the tester looked.
UNANALYSED_OUTCOMES = (Frame.Outcome.PENDING, Frame.Outcome.EXPIRED, Frame.Outcome.UNDECODABLE)


def campaign_moments(*, campaign: Campaign, testers: frozenset[uuid.UUID] | None = None) -> dict[str, Any]:
    """The moments panel of every variant, as plain JSON-able data; `testers`: an audience's
    testers (dashboard.audiences), every tester when None."""
    minimum = settings.MIMIK["MIN_AUDIENCE_TESTERS"]
    max_turn = settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"]
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    markers = defaultdict(list)
    for marker in Marker.objects.filter(variant__campaign=campaign):
        markers[marker.variant_id].append(marker)
    model = get_model_for_campaign(campaign)
    calibration = active_calibration(model)
    class_names = list(calibration.parameters["class_names"]) if calibration else []
    per_second = _tester_seconds(
        campaign=campaign, model=model, calibration=calibration, variants=variants, testers=testers
    )
    attention = _attention(campaign=campaign, max_turn=max_turn, testers=testers)
    result: dict[str, Any] = {
        "second_ms": SECOND_MS,
        "min_testers": minimum,
        "window_seconds": MARKER_WINDOW_SECONDS,
        "confidence": CONFIDENCE,
        "max_head_turn_degrees": max_turn,
        "calibrated": calibration is not None,
        "classes": [{"class_name": name, "label": emotion_name(name)} for name in class_names],
        "variants": [],
        "markers": [],
    }
    for variant in variants:
        seconds = per_second.get(variant.pk, {})
        duration_s = _duration_seconds(campaign, variant, seconds, attention.get(variant.pk, {}))
        result["variants"].append(
            {
                "id": str(variant.pk),
                "label": variant.label,
                "kind": variant.kind,
                "duration_ms": duration_s * SECOND_MS,
                "media_url": reverse(
                    "campaigns:variant_media", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk}
                ),
                "poster_url": reverse(
                    "campaigns:variant_poster", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk}
                )
                if variant.poster
                else None,
                "seconds": [
                    {
                        "second": second,
                        **_second_shares(seconds.get(second, {}), calibration, class_names, minimum),
                        "attention": _attention_figure(attention.get(variant.pk, {}).get(second), minimum),
                    }
                    for second in range(duration_s)
                ],
                "attention": _attention_figure(attention.get(variant.pk, {}).get(None), minimum),
                "markers": [_marker_data(marker) for marker in markers.get(variant.pk, [])],
            }
        )
        for marker in markers.get(variant.pk, []):
            result["markers"].append(
                {
                    **_marker_data(marker),
                    "variant_id": str(variant.pk),
                    "variant": variant.label,
                    **_marker_effect(marker, seconds, calibration, class_names, minimum),
                }
            )
    return result


def _marker_data(marker: Marker) -> dict[str, Any]:
    return {
        "id": marker.pk,
        "at_ms": marker.at_ms,
        "kind": marker.kind,
        "kind_label": marker.get_kind_display(),
        "label": str(marker),
    }


def _duration_seconds(campaign: Campaign, variant: Variant, seconds: dict, attention: dict) -> int:
    """Whole seconds the variant runs (a video's length, an image's display time), or as far as
    snapshots reach where the length is unknown."""
    if variant.kind == Variant.Kind.VIDEO and variant.duration_ms:
        return max(1, -(-variant.duration_ms // SECOND_MS))
    if variant.kind == Variant.Kind.IMAGE:
        return max(1, round(campaign.image_display_seconds))
    return max([*seconds, *(second for second in attention if second is not None), -1]) + 1


# --- Emotions per second -----------------------------------------------------------------------


def _tester_seconds(
    *,
    campaign: Campaign,
    model,
    calibration: Calibration | None,
    variants: list[Variant],
    testers: frozenset[uuid.UUID] | None,
) -> dict[uuid.UUID, dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]]]:
    """variant -> second -> tester -> (frames, mean calibrated probabilities), for the testers the
    dashboard counts (enough analysed frames of every variant), from current predictions only."""
    if calibration is None or model is None:
        return {}
    matrix = tester_matrix(
        campaign=campaign,
        model=model,
        threshold=campaign.confidence_threshold,
        variants=variants,
        calibration=calibration,
    )
    included = [
        tester
        for tester, keep in zip(matrix.tester_ids, matrix.included, strict=True)
        if keep and (testers is None or tester in testers)
    ]
    class_names = list(calibration.parameters["class_names"])
    means = {
        f"p{index}": Avg(Cast(KeyTextTransform(name, "calibrated_probabilities"), FloatField()))
        for index, name in enumerate(class_names)
    }
    rows = (
        Prediction.objects.filter(
            campaign=campaign,
            model_version=model,
            calibration_version=calibration.version,
            tester_id__in=included,
        )
        .annotate(second=Cast(F("media_time_ms") / SECOND_MS, IntegerField()))
        .values("variant_id", "tester_id", "second")
        .annotate(frames=Count("pk"), **means)
    )
    found: dict[uuid.UUID, dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]]] = defaultdict(dict)
    for row in rows:
        probabilities = np.array([row[f"p{index}"] or 0.0 for index in range(len(class_names))])
        found[row["variant_id"]].setdefault(row["second"], {})[row["tester_id"]] = (row["frames"], probabilities)
    return found


def _second_shares(
    testers: dict[uuid.UUID, tuple[int, np.ndarray]],
    calibration: Calibration | None,
    class_names: list[str],
    minimum: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"testers": len(testers), "frames": sum(frames for frames, _ in testers.values())}
    if calibration is None or len(testers) < minimum:
        figures["shares"] = None
        return figures
    means = np.stack([probabilities for _, probabilities in testers.values()])[:, np.newaxis, :]
    estimates, draws = share_draws(means, calibrated.calibration_set(calibration).bootstrap)
    low, high = percentile_interval(draws[0], CONFIDENCE)
    figures["shares"] = {
        name: {"share": float(estimates[0, c]), "low": float(low[c]), "high": float(high[c])}
        for c, name in enumerate(class_names)
    }
    return figures


def _marker_effect(
    marker: Marker,
    seconds: dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]],
    calibration: Calibration | None,
    class_names: list[str],
    minimum: int,
) -> dict[str, Any]:
    """Each emotion's estimated share in the window after the marker against the window before it,
    over the testers with snapshots in both (a paired bootstrap: the same testers in each draw)."""
    start = marker.at_ms // SECOND_MS
    before = _window_means(seconds, range(max(0, start - MARKER_WINDOW_SECONDS), start))
    after = _window_means(seconds, range(start, start + MARKER_WINDOW_SECONDS))
    testers = sorted(set(before) & set(after))
    effect: dict[str, Any] = {"testers": len(testers), "classes": None}
    if calibration is None or len(testers) < minimum:
        return effect
    means = np.stack([[before[tester], after[tester]] for tester in testers])
    estimates, draws = share_draws(means, calibrated.calibration_set(calibration).bootstrap)
    differences = draws[1] - draws[0]
    low, high = percentile_interval(differences, CONFIDENCE)
    p_value = p_values(differences)
    effect["classes"] = [
        {
            "class_name": name,
            "label": emotion_name(name),
            "before": float(estimates[0, c]),
            "after": float(estimates[1, c]),
            "difference": float(estimates[1, c] - estimates[0, c]),
            "low": float(low[c]),
            "high": float(high[c]),
            "p_value": float(p_value[c]),
        }
        for c, name in enumerate(class_names)
    ]
    return effect


def _window_means(
    seconds: dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]], window: range
) -> dict[uuid.UUID, np.ndarray]:
    """Each tester's mean calibrated probabilities over their frames within the window."""
    totals: dict[uuid.UUID, list] = {}
    for second in window:
        for tester, (frames, probabilities) in seconds.get(second, {}).items():
            frames_so_far, weighted = totals.get(tester, (0, 0.0))
            totals[tester] = [frames_so_far + frames, weighted + probabilities * frames]
    return {tester: weighted / frames for tester, (frames, weighted) in totals.items()}


# --- Attention ---------------------------------------------------------------------------------


def _attention(
    *, campaign: Campaign, max_turn: float, testers: frozenset[uuid.UUID] | None = None
) -> dict[uuid.UUID, dict[int | None, dict[str, int]]]:
    """variant -> second -> analysed snapshots, those with a face turned less than `max_turn`
    towards the screen, and the testers they came from; under the key None the variant's totals.
    Every tester's snapshots count, whether or not the emotion figures count them: looking away is
    what this shows."""
    frames = Frame.objects.filter(campaign=campaign)
    if testers is not None:
        frames = frames.filter(tester_id__in=testers)
    frames = (
        frames.exclude(outcome__in=UNANALYSED_OUTCOMES)
        .alias(turn=Abs("head_turn_degrees"))
        .annotate(second=Cast(F("media_time_ms") / SECOND_MS, IntegerField()))
    )
    figures = {
        "frames": Count("pk"),
        "looking": Count("pk", filter=Q(turn__lt=max_turn)),
        "testers": Count("tester_id", distinct=True),
    }
    found: dict[uuid.UUID, dict[int | None, dict[str, int]]] = defaultdict(dict)
    for row in frames.values("variant_id", "second").annotate(**figures).order_by():
        found[row["variant_id"]][row["second"]] = {name: row[name] for name in figures}
    for row in frames.values("variant_id").annotate(**figures).order_by():
        found[row["variant_id"]][None] = {name: row[name] for name in figures}
    return found


def _attention_figure(row: dict[str, int] | None, minimum: int) -> dict[str, Any]:
    if row is None:
        return {"frames": 0, "testers": 0, "share": None}
    share = row["looking"] / row["frames"] if row["frames"] and row["testers"] >= minimum else None
    return {"frames": row["frames"], "testers": row["testers"], "share": share}


def attention_summary(*, campaign: Campaign) -> dict[uuid.UUID, dict[str, Any]]:
    """Per variant: the share of analysed snapshots with a face looking at the screen."""
    minimum = settings.MIMIK["MIN_AUDIENCE_TESTERS"]
    attention = _attention(campaign=campaign, max_turn=settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"])
    return {variant: _attention_figure(seconds.get(None), minimum) for variant, seconds in attention.items()}
