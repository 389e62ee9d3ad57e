"""The variants side by side: per variant and class the counted frames and the mean per-tester
ratio, every pair of variants compared on paired per-tester differences, and whether the order
the variants were seen in moved the happy ratio."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import numpy as np

from dashboard import stats
from dashboard.matrix import TesterMatrix
from dashboard.wording import emotion_name, paired_verdict

HEADLINE_CLASSES = ("happy", "sad")
RATIO_BOUNDS = (0.0, 1.0)


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
