"""The tester matrix: per (tester, variant) analysed frames, confident frames per class and mean
calibrated probabilities, counted in PostgreSQL (GROUP BY with FILTER) so that Python sees one row
per cell. Every analysis on the page (comparisons, verdicts, survey, baseline, norms) starts from it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Avg, Count, FloatField, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from campaigns.models import Campaign, Variant
from dashboard import counting, stats
from inference.models import Calibration, ModelVersion, Prediction


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

    def only(self, tester_ids: Collection[uuid.UUID]) -> TesterMatrix:
        """The same matrix over these testers alone (an audience, dashboard.audience): whatever is
        computed from it leaves every other tester out. Rows keep their order."""
        rows = [row for row, tester_id in enumerate(self.tester_ids) if tester_id in tester_ids]
        part = TesterMatrix(
            self.variants,
            self.class_names,
            [self.tester_ids[row] for row in rows],
            self.analysed[rows],
            self.counts[rows],
            self.stale_frames,
            None if self.mean_calibrated is None else self.mean_calibrated[rows],
        )
        part.included = self.included[rows]
        return part

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
    (tester, variant) over all the predictions with a COUNT(*) FILTER per class (`counting.confident_as`),
    and with a calibration the AVG of each calibrated probability over current frames."""
    class_names = list(model.class_names)
    class_count = len(class_names)
    stale = 0
    if calibration is not None and counting.sums_available():
        stale, analysed_by_cell, means_by_cell = calibrated_sums(
            campaign=campaign, model=model, calibration=calibration, class_names=class_names
        )
        if not stale:
            cells = _confident_cells(campaign, model, threshold, class_names, analysed_by_cell, means_by_cell)
            return _matrix(campaign, variants, class_names, cells, stale, calibrated=True)
    elif calibration is not None:
        # Before the counts: with stale rows, only the full test counts them on their raw values.
        stale = counting.stale_frames(campaign=campaign, model=model, calibration=calibration)
    aggregates: dict[str, Any] = {
        f"class_{i}": Count("pk", filter=counting.confident_as(name, threshold, calibration, stale=bool(stale)))
        for i, name in enumerate(class_names)
    }
    if calibration is not None and not counting.sums_available():
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
    if calibration is not None and counting.sums_available():  # the means came from the sums
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
    """All predictions are current: confident means calibrated (`counting.confident_as(stale=False)`)."""
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
