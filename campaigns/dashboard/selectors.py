"""Reads for the comparison dashboard. Counting happens in PostgreSQL (GROUP BY with FILTER); Python
only sees one row per (variant, tester), and numpy/scipy work on those small arrays.

Rules every number on the page follows:
- "Analysed" frames are frames with a prediction of the campaign's effective model.
- A tester counts only with at least `min_frames_per_tester` (and at least one) analysed frames
  on every variant: the comparison is paired, so a tester missing one side adds nothing to it.
  Everyone else who sent frames is counted as excluded and appears in no ratio or interval (the page
  says why, testers.tester_counting); their survey answers and comments count all the same.
- Withdrawn testers are deleted rows; only their invitation's `withdrawn_at` remains (progress).
- With an active calibration for the model, frames are counted on their calibrated top class and
  probability. A prediction whose `calibration_version` is not the active one (written before the
  calibration was activated, or by a worker that does not calibrate yet) is "stale": it is counted
  on its raw values, the page says how many there are, and the API queues the recompute.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Avg, Count, Exists, F, FloatField, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.dashboard import calibrated, stats
from campaigns.dashboard.baseline import baseline_panel
from campaigns.dashboard.decision import DETECT
from campaigns.dashboard.norms import benchmark
from campaigns.dashboard.say_face import say_face_summary
from campaigns.dashboard.survey import survey_summary
from campaigns.dashboard.testers import campaign_testers, progress_summary, tester_counting
from campaigns.dashboard.verdicts import decision_summary
from campaigns.dashboard.wording import (
    backlog_note,
    calibration_label,
    emotion_name,
    paired_verdict,
    second_opinion_sentence,
    stale_note,
)
from campaigns.models import Campaign, Variant
from inference.models import Calibration, ModelVersion, Prediction
from inference.second_opinion_verdict import second_opinion_verdict
from inference.selectors import analysis_backlog, get_active_model
from sessions.models import Frame, FrameOutcomeCount, Tester

HEADLINE_CLASSES = ("happy", "sad")
RATIO_BOUNDS = (0.0, 1.0)
# A face was found (exactly one) for these outcomes, whatever quality said afterwards.
FACE_FOUND_OUTCOMES = (
    Frame.Outcome.PREDICTION,
    Frame.Outcome.FACE_TOO_SMALL,
    Frame.Outcome.TOO_DARK,
    Frame.Outcome.OVEREXPOSED,
    Frame.Outcome.BLURRED,
)


def effective_model(campaign: Campaign) -> ModelVersion | None:
    return campaign.model_version or get_active_model()


def get_model_version_for_card(model_version_id: int) -> ModelVersion:
    """Any model version, else 404: models are global, so every logged-in researcher may read any
    card (the view requires the login)."""
    model_version = ModelVersion.objects.filter(pk=model_version_id).first()
    if model_version is None:
        raise Http404("No such model.")
    return model_version


def model_summary(model: ModelVersion | None) -> dict[str, Any] | None:
    if model is None:
        return None
    card_url = reverse("dashboard:model-card", kwargs={"model_version_id": model.pk})
    return {"id": model.pk, "name": model.name, "version": model.version, "card_url": card_url}


def active_calibration(model: ModelVersion | None) -> Calibration | None:
    if model is None:
        return None
    # The calibration faces (calibration_set, some hundred kB of JSON) are read only where the
    # process has not built their bootstrap yet (calibrated.calibration_set): deferred.
    return Calibration.objects.filter(model_version=model, is_active=True).defer("calibration_set").first()


def sums_available() -> bool:
    """Whether inference.CalibratedSum, MediaTimeFrames and tester_sessions.FrameOutcomeCount are kept
    (PostgreSQL triggers)."""
    return connection.vendor == "postgresql"


def stale_frames(*, campaign: Campaign, model: ModelVersion, calibration: Calibration | None) -> int:
    """Predictions not computed with the active calibration (an index-only scan)."""
    if calibration is None:
        return 0
    return (
        Prediction.objects.filter(campaign=campaign, model_version=model)
        .exclude(calibration_version=calibration.version)
        .count()
    )


def confident_as(class_name: str, threshold: float, calibration: Calibration | None, *, stale: bool = True) -> Q:
    """Frames counted as `class_name`: calibrated values where current, raw values otherwise.
    Without stale rows (the usual case) the plain calibrated test is enough, and much cheaper."""
    raw = Q(top_probability__gte=threshold, top_class=class_name)
    if calibration is None:
        return raw
    calibrated = Q(calibrated_top_probability__gte=threshold, calibrated_top_class=class_name)
    if not stale:
        return calibrated
    current = Q(calibration_version=calibration.version)
    return (current & calibrated) | (~current & raw)


@dataclass
class TesterMatrix:
    """Per (tester, variant) analysed frames and per (tester, variant, class) confident counts."""

    variants: list[Variant]
    class_names: list[str]
    tester_ids: list[uuid.UUID]
    analysed: np.ndarray  # testers x variants
    counts: np.ndarray  # testers x variants x classes
    stale_frames: int  # frames not computed with the active calibration
    # testers x variants x classes: mean calibrated probabilities over the current frames (NaN if
    # none), or None without an active calibration.
    mean_calibrated: np.ndarray | None
    included: np.ndarray = field(init=False)  # bool per tester

    def apply_minimum(self, min_frames: int) -> None:
        minimum = max(1, min_frames)
        if self.analysed.size:
            self.included = np.all(self.analysed >= minimum, axis=1)
        else:
            self.included = np.zeros(len(self.tester_ids), dtype=bool)

    def ratios(self) -> np.ndarray:
        """Per-tester ratios of included testers: testers x variants x classes."""
        counts = self.counts[self.included]
        return stats.safe_ratio(counts, self.analysed[self.included][:, :, np.newaxis])

    def class_index(self, class_name: str) -> int | None:
        return self.class_names.index(class_name) if class_name in self.class_names else None

    def shares_input(self) -> np.ndarray:
        """Included testers with a calibrated frame on every variant: testers x variants x classes."""
        if self.mean_calibrated is None:
            return np.zeros((0, len(self.variants), len(self.class_names)))
        means = self.mean_calibrated[self.included]
        return means[~np.isnan(means).any(axis=(1, 2))]


def tester_matrix(
    *,
    campaign: Campaign,
    model: ModelVersion,
    threshold: float,
    variants: list[Variant],
    calibration: Calibration | None = None,
) -> TesterMatrix:
    """Per (tester, variant): analysed frames, confident frames per class, mean calibrated
    probabilities. With an active calibration, first one GROUP BY over inference.CalibratedSum
    (`calibrated_sums`): stale frames, analysed frames and the means. Without stale frames (the
    usual case) the confident counts then need only the frames at or above the threshold: a range
    of the `prediction_confident` index, grouped by (tester, variant, class).
    Otherwise (no calibration, stale frames, or no trigger-kept sums on SQLite) one GROUP BY
    (tester, variant) over all the predictions with a COUNT(*) FILTER per class (`confident_as`),
    and with a calibration the AVG of each calibrated probability over current frames."""
    class_names = list(model.class_names)
    class_count = len(class_names)
    stale = 0
    if calibration is not None and sums_available():
        stale, analysed_by_cell, means_by_cell = calibrated_sums(
            campaign=campaign, model=model, calibration=calibration, class_names=class_names
        )
        if not stale:
            cells = _confident_cells(campaign, model, threshold, class_names, analysed_by_cell, means_by_cell)
            return _matrix(campaign, variants, class_names, cells, stale, calibrated=True)
    elif calibration is not None:
        # Before the counts: with stale rows, only the full test counts them on their raw values.
        stale = stale_frames(campaign=campaign, model=model, calibration=calibration)
    aggregates: dict[str, Any] = {
        f"class_{i}": Count("pk", filter=confident_as(name, threshold, calibration, stale=bool(stale)))
        for i, name in enumerate(class_names)
    }
    if calibration is not None and not sums_available():
        current = Q(calibration_version=calibration.version) if stale else None
        aggregates.update(
            {
                f"mean_{i}": Avg(Cast(KT(f"calibrated_probabilities__{name}"), FloatField()), filter=current)
                for i, name in enumerate(class_names)
            }
        )
    rows = (
        Prediction.objects.filter(campaign=campaign, model_version=model)
        .values_list("tester_id", "variant_id")
        .annotate(analysed=Count("*"), **aggregates)
        .order_by()
    )
    cells = [(tester_id, variant_id, tuple(numbers)) for tester_id, variant_id, *numbers in rows]
    if calibration is not None and sums_available():  # the means came from the sums
        no_means = (None,) * class_count
        cells = [(t, v, (*numbers, *means_by_cell.get((t, v), no_means))) for t, v, numbers in cells]
    return _matrix(campaign, variants, class_names, cells, stale, calibrated=calibration is not None)


Cell = tuple[uuid.UUID, uuid.UUID, tuple[float | None, ...]]  # tester, variant, (analysed, counts, means)


def _confident_cells(
    campaign: Campaign,
    model: ModelVersion,
    threshold: float,
    class_names: list[str],
    analysed_by_cell: dict[tuple[uuid.UUID, uuid.UUID], int],
    means_by_cell: dict[tuple[uuid.UUID, uuid.UUID], tuple[float | None, ...]],
) -> list[Cell]:
    """All predictions are current: confident means calibrated (`confident_as(stale=False)`)."""
    confident = (
        Prediction.objects.filter(
            campaign=campaign,
            model_version=model,
            calibrated_top_probability__gte=threshold,
            calibrated_top_class__in=class_names,
        )
        .values_list("tester_id", "variant_id", "calibrated_top_class")
        .annotate(n=Count("*"))
        .order_by()
    )
    column = {name: i for i, name in enumerate(class_names)}
    counts: dict[tuple[uuid.UUID, uuid.UUID], list[int]] = {}
    for tester_id, variant_id, class_name, n in confident:
        counts.setdefault((tester_id, variant_id), [0] * len(class_names))[column[class_name]] = n
    no_counts = (0,) * len(class_names)
    no_means = (None,) * len(class_names)
    return [
        (key[0], key[1], (analysed, *counts.get(key, no_counts), *means_by_cell.get(key, no_means)))
        for key, analysed in analysed_by_cell.items()
    ]


def _matrix(
    campaign: Campaign,
    variants: list[Variant],
    class_names: list[str],
    cells: list[Cell],
    stale: int,
    *,
    calibrated: bool,
) -> TesterMatrix:
    variant_index = {variant.pk: i for i, variant in enumerate(variants)}
    tester_index: dict[uuid.UUID, int] = {}
    placed: list[tuple[int, int, tuple[float | None, ...]]] = []
    # Testers in id order, whichever plan PostgreSQL chose: the bootstrap draws testers by index.
    # A UUID orders as its integer, and integers compare in C rather than in uuid.UUID.__lt__.
    for tester_id, variant_id, numbers in sorted(cells, key=lambda cell: (cell[0].int, cell[1].int)):
        if variant_id not in variant_index:
            continue
        row = tester_index.setdefault(tester_id, len(tester_index))
        placed.append((row, variant_index[variant_id], numbers))
    class_count = len(class_names)
    shape = (len(tester_index), len(variants))
    analysed = np.zeros(shape, dtype=np.int64)
    counts = np.zeros((*shape, class_count), dtype=np.int64)
    mean_calibrated = np.full((*shape, class_count), np.nan) if calibrated else None
    if placed:
        rows_idx, cols_idx, numbers = zip(*placed, strict=True)
        # AVG over no current frame is NULL; float None -> nan.
        values = np.asarray(numbers, dtype=np.float64)
        analysed[rows_idx, cols_idx] = values[:, 0]
        counts[rows_idx, cols_idx, :] = values[:, 1 : 1 + class_count]
        if mean_calibrated is not None:
            mean_calibrated[rows_idx, cols_idx, :] = values[:, 1 + class_count :]
    matrix = TesterMatrix(variants, class_names, list(tester_index), analysed, counts, stale, mean_calibrated)
    matrix.apply_minimum(campaign.min_frames_per_tester)
    return matrix


def calibrated_sums(
    *, campaign: Campaign, model: ModelVersion, calibration: Calibration, class_names: list[str]
) -> tuple[
    int,
    dict[tuple[uuid.UUID, uuid.UUID], int],
    dict[tuple[uuid.UUID, uuid.UUID], tuple[float | None, ...]],
]:
    """From inference.CalibratedSum (8 rows per tester, variant and calibration version, kept by
    triggers) in one GROUP BY, in place of taking 600,000 predictions' JSON apart: the number of
    stale frames; per (tester, variant) its analysed frames (the empty class name's rows count
    every prediction, whatever its calibration version) and the mean of each calibrated
    probability over its current frames (only cells that have any). The campaign's totals come as
    the ROLLUP row without a tester."""
    per_class = ", ".join(
        "(max(total / frames) FILTER (WHERE class_name = %s AND calibration_version = %s))::double precision"
        for _name in class_names
    )
    statement = f"""
        SELECT tester_id, variant_id,
            coalesce(sum(frames) FILTER (WHERE class_name = '' AND calibration_version <> %s), 0),
            coalesce(sum(frames) FILTER (WHERE class_name = ''), 0),
            {per_class}
        FROM inference_calibratedsum
        WHERE campaign_id = %s AND model_version_id = %s AND frames > 0
        GROUP BY ROLLUP ((tester_id, variant_id))
    """  # noqa: S608  (only placeholders are formatted in)
    version = calibration.version
    parameters = [version, *itertools.chain.from_iterable((name, version) for name in class_names)]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*parameters, campaign.pk, model.pk])
        rows = cursor.fetchall()
    stale = next((int(row[2]) for row in rows if row[0] is None), 0)
    analysed = {(row[0], row[1]): int(row[3]) for row in rows if row[0] is not None and row[3]}
    means = {
        (row[0], row[1]): tuple(row[4:])
        for row in rows
        if row[0] is not None and any(value is not None for value in row[4:])
    }
    return stale, analysed, means


def frame_outcomes(campaign: Campaign) -> tuple[dict[str, int], set[uuid.UUID]]:
    """Frames per outcome, and the testers who sent any frame. Where PostgreSQL keeps
    tester_sessions.FrameOutcomeCount, the analysed frames from its rows (a few per tester) and the
    pending ones from the frames that wait (the (campaign, outcome) index); elsewhere a count of
    every frame and one index probe per tester."""
    outcomes = dict.fromkeys(Frame.Outcome.values, 0)
    if sums_available():
        counted = FrameOutcomeCount.objects.filter(campaign=campaign, frames__gt=0).values_list(
            "tester_id", "outcome", "frames"
        )
        waiting = (
            Frame.objects.filter(campaign=campaign, outcome=Frame.Outcome.PENDING)
            .values_list("tester_id", "outcome")
            .annotate(n=Count("*"))
            .order_by()
        )
        senders = set()
        for tester_id, outcome, frames in itertools.chain(counted, waiting):
            outcomes[outcome] += frames
            senders.add(tester_id)
        return outcomes, senders
    rows = Frame.objects.filter(campaign=campaign).values_list("outcome").annotate(n=Count("*")).order_by()
    outcomes.update(dict(rows))
    senders = set(
        Tester.objects.filter(campaign=campaign)
        .filter(Exists(Frame.objects.filter(tester=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    return outcomes, senders


def funnel(outcomes: dict[str, int], matrix: TesterMatrix | None) -> dict[str, Any]:
    high_confidence = int(matrix.counts.sum()) if matrix is not None else 0
    return {
        "received": sum(outcomes.values()),
        "pending": outcomes.get(Frame.Outcome.PENDING, 0),
        "face_found": sum(outcomes.get(outcome, 0) for outcome in FACE_FOUND_OUTCOMES),
        "passed_quality": outcomes.get(Frame.Outcome.PREDICTION, 0),
        "high_confidence": high_confidence,
        "outcomes": [
            {"outcome": value, "label": str(label), "frames": outcomes.get(value, 0)}
            for value, label in Frame.Outcome.choices
        ],
    }


def variant_rows(matrix: TesterMatrix, ratios: np.ndarray) -> list[dict[str, Any]]:
    included_analysed = matrix.analysed[matrix.included]
    included_counts = matrix.counts[matrix.included]
    rows = []
    for v, variant in enumerate(matrix.variants):
        frames = int(included_analysed[:, v].sum())
        classes = []
        for c, class_name in enumerate(matrix.class_names):
            count = int(included_counts[:, v, c].sum())
            classes.append(
                {
                    "class_name": class_name,
                    "label": emotion_name(class_name),
                    "count": count,
                    "ratio": count / frames if frames else None,
                    "tester_mean": stats.t_interval(ratios[:, v, c], bounds=RATIO_BOUNDS).as_dict(),
                }
            )
        rows.append(
            {
                "id": str(variant.pk),
                "label": variant.label,
                "kind": variant.kind,
                "frames": frames,
                "testers": int(matrix.included.sum()),
                "classes": classes,
            }
        )
    return rows


def comparisons(matrix: TesterMatrix, ratios: np.ndarray) -> list[dict[str, Any]]:
    """Every pair of variants, every class: paired differences of per-tester ratios (b - a)."""
    results = []
    for (a, variant_a), (b, variant_b) in itertools.combinations(enumerate(matrix.variants), 2):
        for c, class_name in enumerate(matrix.class_names):
            result = stats.paired_comparison(ratios[:, a, c], ratios[:, b, c])
            results.append(
                {
                    "class_name": class_name,
                    "label": emotion_name(class_name),
                    "variant_a": str(variant_a.pk),
                    "variant_b": str(variant_b.pk),
                    "label_a": variant_a.label,
                    "label_b": variant_b.label,
                    "headline": class_name in HEADLINE_CLASSES,
                    **result.as_dict(),
                    "verdict": paired_verdict(
                        result, label_a=variant_a.label, label_b=variant_b.label, class_name=class_name
                    ),
                }
            )
    return results


def order_effect(matrix: TesterMatrix, ratios: np.ndarray, orders: dict[uuid.UUID, list[str]]) -> dict[str, Any]:
    """Happy ratio by the position a variant was seen in (first, second, ...), paired first vs second.
    `orders`: every tester's variant ids in the order seen."""
    happy = matrix.class_index("happy")
    variant_count = len(matrix.variants)
    if happy is None or variant_count < 2 or not matrix.included.any():
        return {"class_name": "happy", "positions": [], "by_variant": [], "first_vs_second": None}
    included_ids = [tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep]
    column = {str(variant.pk): v for v, variant in enumerate(matrix.variants)}
    by_position = np.full((len(included_ids), variant_count), np.nan)
    by_variant_position = np.full((len(included_ids), variant_count, variant_count), np.nan)
    rows, columns, places = [], [], []  # (counted tester, variant, position seen), filled at once
    for row, tester_id in enumerate(included_ids):
        for position, variant_id in enumerate(orders.get(tester_id) or []):
            v = column.get(str(variant_id))
            if v is not None and position < variant_count:
                rows.append(row)
                columns.append(v)
                places.append(position)
    happy_ratios = ratios[rows, columns, happy]
    by_position[rows, places] = happy_ratios
    by_variant_position[rows, columns, places] = happy_ratios
    positions = [
        {"position": p + 1, **stats.t_interval(_present(by_position[:, p]), bounds=RATIO_BOUNDS).as_dict()}
        for p in range(variant_count)
    ]
    by_variant = [
        {
            "variant_id": str(variant.pk),
            "label": variant.label,
            "positions": [
                {
                    "position": p + 1,
                    **stats.t_interval(_present(by_variant_position[:, v, p]), bounds=RATIO_BOUNDS).as_dict(),
                }
                for p in range(variant_count)
            ],
        }
        for v, variant in enumerate(matrix.variants)
    ]
    both = ~np.isnan(by_position[:, 0]) & ~np.isnan(by_position[:, 1])
    first_vs_second = stats.paired_comparison(by_position[both, 0], by_position[both, 1]).as_dict()
    return {"class_name": "happy", "positions": positions, "by_variant": by_variant, "first_vs_second": first_vs_second}


def _present(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


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
    if calibration is not None and not stale and sums_available():
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
    """One GROUP BY (variant, bin) over all the predictions, counting as `confident_as` says."""
    return (
        Prediction.objects.filter(campaign=campaign, model_version=model, variant__in=videos)
        .exclude(tester_id__in=excluded)
        .annotate(bin=F("media_time_ms") / bin_ms)  # integer division in PostgreSQL
        .values_list("variant_id", "bin")
        .annotate(
            frames=Count("*"),
            happy=Count("pk", filter=confident_as("happy", threshold, calibration, stale=stale)),
            sad=Count("pk", filter=confident_as("sad", threshold, calibration, stale=stale)),
        )
        .order_by("variant_id", "bin")
    )


def calibration_summary(calibration: Calibration | None, matrix: TesterMatrix | None) -> dict[str, Any]:
    """Which probabilities the counts rest on, named on the page and in the JSON."""
    if calibration is None:
        return {
            "state": "uncalibrated",
            "version": None,
            "method": None,
            "faces": None,
            "stale_frames": 0,
            "label": _("Uncalibrated: counting on the model's raw probabilities"),
            "stale_note": "",
        }
    method_label = str(Calibration.Method(calibration.method).label)
    stale = matrix.stale_frames if matrix is not None else 0
    return {
        "state": "calibrated",
        "id": calibration.pk,
        "version": calibration.version,
        "method": calibration.method,
        "method_label": method_label,
        "faces": calibration.faces,
        "created_at": calibration.created_at.isoformat(),
        "stale_frames": stale,
        "source": calibration.source,
        "label": calibration_label(
            version=calibration.version, method=method_label, faces=calibration.faces, source=calibration.source
        ),
        "stale_note": stale_note(stale),
    }


def dashboard_data(*, campaign: Campaign, threshold: float | None = None, detect: float = DETECT) -> dict[str, Any]:
    """Everything the dashboard shows, as plain JSON-able data (the page and the API share it).
    `detect`: the difference the testers planner sizes for, a fraction of share."""
    threshold = campaign.confidence_threshold if threshold is None else threshold
    model = effective_model(campaign)
    calibration = active_calibration(model)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    testers = campaign_testers(campaign)
    outcomes, senders = frame_outcomes(campaign)
    matrix = (
        tester_matrix(campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration)
        if model
        else None
    )
    included = {tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep} if matrix else set()
    excluded = sorted((senders | set(matrix.tester_ids if matrix else [])) - included)
    ratios = matrix.ratios() if matrix else np.zeros((0, len(variants), 0))
    progress = progress_summary(campaign, testers)
    return {
        "campaign": {"id": str(campaign.pk), "name": campaign.name},
        "model": model_summary(model),
        "calibration": calibration_summary(calibration, matrix),
        "class_names": [
            {"class_name": name, "label": emotion_name(name)} for name in (model.class_names if model else [])
        ],
        "threshold": threshold,
        "default_threshold": campaign.confidence_threshold,
        "min_frames_per_tester": campaign.min_frames_per_tester,
        "decision": decision_summary(
            campaign=campaign,
            matrix=matrix,
            calibration=calibration,
            invited=progress["invited"],
            threshold=threshold,
            detect=detect,
        )
        if matrix
        else None,
        "progress": progress,
        "backlog_note": backlog_note(analysis_backlog(campaign_id=campaign.pk)),
        "frames": funnel(outcomes, matrix),
        "testers": {
            "included": len(included),
            "excluded": len(excluded),
            **tester_counting(campaign=campaign, testers=testers, matrix=matrix, variants=variants, senders=senders),
        },
        "variants": variant_rows(matrix, ratios) if matrix else [],
        "comparisons": comparisons(matrix, ratios) if matrix else [],
        "counting_quality": calibrated.counting_quality(calibration, threshold) if calibration else [],
        "estimated_shares": calibrated.estimated_shares(
            calibration=calibration, variants=variants, means=matrix.shares_input()
        )
        if calibration and matrix
        else None,
        "order_effect": order_effect(matrix, ratios, {t.id: t.variant_order for t in testers}) if matrix else None,
        "survey": survey_summary(campaign=campaign, matrix=matrix, ratios=ratios),
        "timeline": timeline(
            campaign=campaign,
            model=model,
            threshold=threshold,
            variants=variants,
            excluded=excluded,
            calibration=calibration,
            stale=bool(matrix and matrix.stale_frames),
        )
        if model
        else {"bin_ms": 0, "variants": []},
        "second_opinion": second_opinion_summary(campaign=campaign, threshold=threshold),
        # Without a model there is no matrix, and nothing to set the baseline, ratings or norms beside.
        "baseline": baseline_panel(campaign=campaign, matrix=matrix, model=model, calibration=calibration)
        if matrix
        else None,
        "say_face": say_face_summary(campaign=campaign, matrix=matrix, ratios=ratios) if matrix else None,
        "norms": benchmark(
            campaign=campaign,
            model=model,
            calibration=calibration,
            threshold=threshold,
            matrix=matrix,
            ratios=ratios,
        )
        if matrix
        else None,
    }


def second_opinion_summary(*, campaign: Campaign, threshold: float) -> dict[str, Any] | None:
    """Does the leading variant stay ahead under the campaign's second model? None without one."""
    if campaign.second_model_version_id is None:
        return None
    verdict = second_opinion_verdict(campaign=campaign, threshold=threshold)
    verdict["sentences"] = [
        {
            "class_name": name,
            "flipped": row["flipped"],
            "sentence": second_opinion_sentence(name, row, verdict["model"]),
        }
        for name, row in verdict["classes"].items()
        if name in ("happy", "sad") or row["flipped"]
    ]
    return verdict
