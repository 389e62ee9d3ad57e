"""Moments: second by second of each variant, the estimated share of every emotion with its interval
over testers, whether the testers were looking at the screen, and what happened around the
researcher's markers (the seconds after each against the seconds before).

The shares use the dashboard's estimator (emotion_math.share_bootstrap, the calibration's
misclassification matrix and a bootstrap over testers), fed with each tester's mean calibrated
probabilities within the second. A second covered by fewer testers than the smallest group
(dashboard.audiences.minimum_testers) shows how many testers it has and no figure: too few to
estimate, and too few to keep a tester unknown. Under an audience, a figure is also left out where
the testers outside the audience are that few, since the whole campaign's figure minus the
audience's would be theirs.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, F, FloatField, IntegerField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Abs, Cast
from django.urls import reverse

from campaigns.models import Campaign, Marker, Variant
from dashboard import calibrated
from dashboard.audiences import may_show, minimum_testers
from dashboard.counting import active_calibration
from dashboard.matrix import tester_matrix
from dashboard.wording import emotion_name
from emotion_math.share_bootstrap import CONFIDENCE, p_values, percentile_interval, share_draws
from inference.models import Calibration, Prediction
from inference.selectors import get_model_for_campaign
from sessions.models import Frame

SECOND_MS = 1000
# Bootstrap draws behind each second's interval (a marker's effect uses all of the calibration's).
CURVE_SAMPLES = 250
# A marker's effect: the testers' faces in this many seconds after it against as many before it.
MARKER_WINDOW_SECONDS = 3
# Where the attention figure comes from: a face whose turn was measured, or no face at all (looking
# away). Other snapshots (several faces, unreadable, still pending, or analysed before head turns
# were measured) say nothing about where the tester looked.
ATTENTION_KNOWN = Q(head_turn_degrees__isnull=False) | Q(outcome=Frame.Outcome.NO_FACE)

# variant -> second -> tester -> (frames, mean calibrated probabilities)
TesterSeconds = dict[uuid.UUID, dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]]]


def campaign_moments(*, campaign: Campaign, testers: Collection[uuid.UUID] | None = None) -> dict[str, Any]:
    """The moments panel of every variant, as plain JSON-able data; `testers`: an audience's
    testers (dashboard.audiences), every tester when None."""
    max_turn = settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"]
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    markers = defaultdict(list)
    for marker in Marker.objects.filter(variant__campaign=campaign):
        markers[marker.variant_id].append(marker)
    model = get_model_for_campaign(campaign)
    calibration = active_calibration(model)
    class_names = list(calibration.parameters["class_names"]) if calibration else []
    everyone = _tester_seconds(campaign=campaign, model=model, calibration=calibration, variants=variants)
    group = everyone if testers is None else _only(everyone, frozenset(testers))
    attention_everyone = _attention(campaign=campaign, max_turn=max_turn)
    attention = attention_everyone if testers is None else _attention(campaign, max_turn=max_turn, testers=testers)
    estimate = _Estimate(calibration, class_names)
    result: dict[str, Any] = {
        "second_ms": SECOND_MS,
        "min_testers": minimum_testers(),
        "window_seconds": MARKER_WINDOW_SECONDS,
        "confidence": CONFIDENCE,
        "max_head_turn_degrees": max_turn,
        "calibrated": calibration is not None,
        "classes": [{"class_name": name, "label": emotion_name(name)} for name in class_names],
        "variants": [],
        "markers": [],
    }
    for variant in variants:
        seconds, all_seconds = group.get(variant.pk, {}), everyone.get(variant.pk, {})
        looking, all_looking = attention.get(variant.pk, {}), attention_everyone.get(variant.pk, {})
        duration_s = _duration_seconds(campaign, variant, seconds, looking)
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
                        **estimate.second(seconds.get(second, {}), everyone=len(all_seconds.get(second, {}))),
                        "attention": _attention_figure(looking.get(second), all_looking.get(second)),
                    }
                    for second in range(duration_s)
                ],
                "attention": _attention_figure(looking.get(None), all_looking.get(None)),
                "markers": [_marker_data(marker) for marker in markers.get(variant.pk, [])],
            }
        )
        for marker in markers.get(variant.pk, []):
            result["markers"].append(
                {
                    **_marker_data(marker),
                    "variant_id": str(variant.pk),
                    "variant": variant.label,
                    **estimate.marker(marker, seconds, everyone=all_seconds),
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
    *, campaign: Campaign, model, calibration: Calibration | None, variants: list[Variant]
) -> TesterSeconds:
    """For the testers the dashboard counts (enough analysed frames of every variant), from current
    predictions only, one GROUP BY (grouping the fetched rows here instead took 1.4 times as long;
    bench.moments' campaign of 200 testers)."""
    if calibration is None or model is None:
        return {}
    matrix = tester_matrix(
        campaign=campaign,
        model=model,
        threshold=campaign.confidence_threshold,
        variants=variants,
        calibration=calibration,
    )
    included = [tester for tester, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep]
    means = {
        f"p{index}": Avg(Cast(KeyTextTransform(name, "calibrated_probabilities"), FloatField()))
        for index, name in enumerate(calibration.parameters["class_names"])
    }
    rows = (
        Prediction.objects.filter(
            campaign=campaign,
            model_version=model,
            calibration_version=calibration.version,
            tester_id__in=included,
        )
        .annotate(second=Cast(F("media_time_ms") / SECOND_MS, IntegerField()))
        .values_list("variant_id", "tester_id", "second")
        .annotate(frames=Count("pk"), **means)
        .order_by()
    )
    found: TesterSeconds = defaultdict(dict)
    for variant_id, tester_id, second, frames, *probabilities in rows:
        mean = np.array([0.0 if value is None else value for value in probabilities])
        found[variant_id].setdefault(second, {})[tester_id] = (frames, mean)
    return found


def _only(seconds: TesterSeconds, testers: frozenset[uuid.UUID]) -> TesterSeconds:
    return {
        variant: {
            second: {tester: row for tester, row in rows.items() if tester in testers}
            for second, rows in by_second.items()
        }
        for variant, by_second in seconds.items()
    }


class _Estimate:
    """The estimator and the smallest-group rule for one campaign's moments."""

    def __init__(self, calibration: Calibration | None, class_names: list[str]) -> None:
        self.bootstrap = calibrated.calibration_set(calibration).bootstrap if calibration else None
        # A curve has a figure every second: it takes the first CURVE_SAMPLES of the bootstrap's
        # draws, a marker's effect all of them (bench.moments).
        self.curve_bootstrap = (
            dataclasses.replace(
                self.bootstrap,
                draw_matrices=self.bootstrap.draw_matrices[:CURVE_SAMPLES],
                draw_solvers=self.bootstrap.draw_solvers[:CURVE_SAMPLES],
            )
            if self.bootstrap is not None
            else None
        )
        self.class_names = class_names

    def second(self, testers: dict[uuid.UUID, tuple[int, np.ndarray]], *, everyone: int) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "testers": len(testers),
            "frames": sum(frames for frames, _ in testers.values()),
            "shares": None,
        }
        if self.bootstrap is None or not may_show(group=len(testers), population=everyone):
            return figures
        means = np.stack([probabilities for _, probabilities in testers.values()])[:, np.newaxis, :]
        estimates, draws = share_draws(means, self.curve_bootstrap)
        low, high = percentile_interval(draws[0], CONFIDENCE)
        figures["shares"] = {
            name: {"share": float(estimates[0, c]), "low": float(low[c]), "high": float(high[c])}
            for c, name in enumerate(self.class_names)
        }
        return figures

    def marker(
        self,
        marker: Marker,
        seconds: dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]],
        *,
        everyone: dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]],
    ) -> dict[str, Any]:
        """Each emotion's estimated share in the window after the marker against the window before
        it, over the testers with snapshots in both (a paired bootstrap: the same testers in each
        draw)."""
        before, after = _windows(marker, seconds)
        testers = sorted(set(before) & set(after))
        all_before, all_after = _windows(marker, everyone)
        effect: dict[str, Any] = {"testers": len(testers), "classes": None}
        if self.bootstrap is None or not may_show(group=len(testers), population=len(set(all_before) & set(all_after))):
            return effect
        means = np.stack([[before[tester], after[tester]] for tester in testers])
        estimates, draws = share_draws(means, self.bootstrap)
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
            for c, name in enumerate(self.class_names)
        ]
        return effect


def _windows(
    marker: Marker, seconds: dict[int, dict[uuid.UUID, tuple[int, np.ndarray]]]
) -> tuple[dict[uuid.UUID, np.ndarray], dict[uuid.UUID, np.ndarray]]:
    start = marker.at_ms // SECOND_MS
    before = _window_means(seconds, range(max(0, start - MARKER_WINDOW_SECONDS), start))
    return before, _window_means(seconds, range(start, start + MARKER_WINDOW_SECONDS))


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
    campaign: Campaign, *, max_turn: float, testers: Collection[uuid.UUID] | None = None
) -> dict[uuid.UUID, dict[int | None, dict[str, int]]]:
    """variant -> second -> snapshots that tell where the tester looked (ATTENTION_KNOWN), those
    with a face turned less than `max_turn` towards the screen, and the testers they came from;
    under the key None the variant's totals. Every tester's snapshots count, whether or not the
    emotion figures count them: looking away is what this shows."""
    frames = Frame.objects.filter(ATTENTION_KNOWN, campaign=campaign)
    if testers is not None:
        frames = frames.filter(tester_id__in=testers)
    frames = frames.alias(turn=Abs("head_turn_degrees")).annotate(
        second=Cast(F("media_time_ms") / SECOND_MS, IntegerField())
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


def _attention_figure(row: dict[str, int] | None, everyone: dict[str, int] | None) -> dict[str, Any]:
    if row is None:
        return {"frames": 0, "testers": 0, "share": None}
    shown = may_show(group=row["testers"], population=everyone["testers"] if everyone else row["testers"])
    share = row["looking"] / row["frames"] if row["frames"] and shown else None
    return {"frames": row["frames"], "testers": row["testers"], "share": share}
