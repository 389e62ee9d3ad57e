"""Does the leading variant stay ahead under the second model?

Per emotion class both models know (matched case-insensitively, with aliases such as facex's
"sadness" for "sad"), the variant with the highest mean per-tester ratio of frames counted at
the threshold (top class = that class, top probability >= threshold), once under the campaign's
primary model and once under its second model.

Like for like: only frames that both models scored are counted (the second model may have been
turned on late, or lag behind on its queue), both on raw probabilities (the second model has no
calibration), and, as on the dashboard, a tester counts only with at least
`min_frames_per_tester` (and at least one) such frames on every variant.

One GROUP BY (tester, variant) in PostgreSQL over the second model's predictions joined to the
primary's of the same frame, with a COUNT(*) FILTER per class and model; Python sees one row per
(tester, variant). Plus one query for the variants (and the model lookups, unless the campaign
was fetched with select_related("model_version", "second_model_version")).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from django.db.models import Count, Q

from inference.models import ModelVersion, Prediction
from inference.second_opinion.model import canonical_class
from inference.selectors import get_model_for_campaign

# Means closer than this are a tie: no variant leads.
TIE_TOLERANCE = 1e-9


def shared_classes(primary: ModelVersion, second: ModelVersion) -> dict[str, tuple[list[str], list[str]]]:
    """{canonical class: (primary's names for it, second's names for it)}, in the primary's order."""
    classes: dict[str, tuple[list[str], list[str]]] = {}
    second_names = list(second.class_names)
    for name in primary.class_names:
        canonical = canonical_class(name)
        theirs = [other for other in second_names if canonical_class(other) == canonical]
        if theirs:
            classes.setdefault(canonical, ([], theirs))[0].append(name)
    return classes


def _leader(means: np.ndarray, labels: list[str]) -> str | None:
    """The variant with the strictly highest mean; None without testers, for a tie, or all zero."""
    if means.size == 0 or np.isnan(means).any():
        return None
    best = float(means.max())
    if best <= 0 or int(np.sum(np.abs(means - best) <= TIE_TOLERANCE)) > 1:
        return None
    return labels[int(np.argmax(means))]


def second_opinion_verdict(*, campaign, threshold: float, testers: Collection[Any] | None = None) -> dict[str, Any]:
    """Of `testers` (ids) only when given (the dashboard's audience), else of every tester:
    {"model": second model or None, "frames": frames both scored (testers counted),
    "testers": testers counted, "flipped_any": bool,
    "classes": {class: {"primary_leader", "second_leader": variant label or None,
                        "flipped": bool, "frames": n, "primary_means", "second_means": {label: mean}}}}"""
    from campaigns.models import Variant

    second = campaign.second_model_version
    primary = get_model_for_campaign(campaign)
    verdict: dict[str, Any] = {
        "model": str(second) if second is not None else None,
        "frames": 0,
        "testers": 0,
        "classes": {},
        "flipped_any": False,
    }
    if second is None or primary is None or primary.pk == second.pk:
        return verdict
    classes = shared_classes(primary, second)
    aggregates: dict[str, Any] = {}
    for index, (primary_names, second_names) in enumerate(classes.values()):
        # `frame__predictions` is the join the filter() below made to the primary's prediction.
        aggregates[f"primary_{index}"] = Count(
            "pk",
            filter=Q(
                frame__predictions__top_class__in=primary_names, frame__predictions__top_probability__gte=threshold
            ),
        )
        aggregates[f"second_{index}"] = Count(
            "pk", filter=Q(top_class__in=second_names, top_probability__gte=threshold)
        )
    scored = Prediction.objects.filter(
        campaign=campaign, model_version=second, frame__predictions__model_version=primary
    )
    if testers is not None:
        scored = scored.filter(tester_id__in=list(testers))
    rows = list(scored.values_list("tester_id", "variant_id").annotate(analysed=Count("pk"), **aggregates).order_by())
    variants = list(
        Variant.objects.filter(campaign=campaign).order_by("position", "created_at").values_list("pk", "label")
    )
    labels = [label for _pk, label in variants]
    variant_index = {pk: i for i, (pk, _label) in enumerate(variants)}
    tester_index: dict[Any, int] = {}
    cells = []
    for tester_id, variant_id, *numbers in rows:
        if variant_id in variant_index:
            cells.append((tester_index.setdefault(tester_id, len(tester_index)), variant_index[variant_id], numbers))
    class_count = len(classes)
    analysed = np.zeros((len(tester_index), len(variants)), dtype=np.int64)
    counts = np.zeros((len(tester_index), len(variants), 2 * class_count), dtype=np.int64)
    for row, column, numbers in cells:
        analysed[row, column] = numbers[0]
        counts[row, column, :] = numbers[1:]
    included = np.all(analysed >= max(1, campaign.min_frames_per_tester), axis=1)
    if not variants:
        included[:] = False
    ratios = counts[included] / analysed[included][:, :, np.newaxis] if included.any() else None
    verdict["frames"] = int(analysed[included].sum())
    verdict["testers"] = int(included.sum())
    for index, name in enumerate(classes):
        if ratios is None:
            primary_means = second_means = np.full(len(variants), np.nan)
        else:
            primary_means = ratios[:, :, 2 * index].mean(axis=0)
            second_means = ratios[:, :, 2 * index + 1].mean(axis=0)
        primary_leader, second_leader = _leader(primary_means, labels), _leader(second_means, labels)
        flipped = primary_leader is not None and second_leader is not None and primary_leader != second_leader
        verdict["classes"][name] = {
            "primary_leader": primary_leader,
            "second_leader": second_leader,
            "flipped": flipped,
            "frames": verdict["frames"],
            "primary_means": {label: _rounded(value) for label, value in zip(labels, primary_means, strict=True)},
            "second_means": {label: _rounded(value) for label, value in zip(labels, second_means, strict=True)},
        }
        verdict["flipped_any"] = verdict["flipped_any"] or flipped
    return verdict


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
