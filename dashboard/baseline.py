"""Each tester's own baseline: what the model reads in their resting face before any advertisement,
the variants' emotion shares relative to it, and how well the model read their posed expressions.

People's resting faces differ: one reads as a little sad, another as a little angry. The camera page
records a few snapshots of each tester's relaxed face (sessions.BaselineSnapshot, kind "resting")
and, when the campaign asks for them, a posed smile and a posed neutral face. Here, per tester:

- the baseline: the mean (calibrated) probability of each emotion over their analysed resting
  snapshots;
- per variant and emotion, the tester's mean calibrated probability on the variant (the dashboard
  matrix's `mean_calibrated`) minus their baseline; averaged over the counted testers who have a
  baseline, with a t interval over testers (stats.t_interval);
- the share of their posed-smile snapshots read as happy and of their posed-neutral ones read as
  neutral (the top class, calibrated where a calibration is active).

In the paired A-B comparison a per-tester additive baseline cancels exactly: (A - r) - (B - r) =
A - B. The baseline changes the level ("how much happier than at rest"), never the comparison.

The dashboard passes in the matrix it built (`baseline_panel`); the baseline export
has one row per tester (`baseline_rows`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np
from django.db.models import Count, FloatField, Q, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.models import Campaign, Variant
from dashboard import stats
from dashboard.counting import active_calibration
from dashboard.matrix import tester_matrix
from inference.calibrations import calibrate_rows
from inference.models import Calibration, ModelVersion
from inference.selectors import get_model_for_campaign
from sessions.models import BaselineSnapshot

DIFFERENCE_BOUNDS = (-1.0, 1.0)
SHARE_BOUNDS = (0.0, 1.0)
# A posed kind: its key per tester, the class it should be read as, and its key in "posed".
POSED_TARGETS = {
    BaselineSnapshot.Kind.POSED_SMILE: ("posed_smile", "happy", "smile_read_as_happy"),
    BaselineSnapshot.Kind.POSED_NEUTRAL: ("posed_neutral", "neutral", "neutral_read_as_neutral"),
}


def _tallies(
    campaign: Campaign,
    model: ModelVersion,
    calibration: Calibration | None,
    class_names: list[str],
    testers: Collection[uuid.UUID] | None = None,
) -> tuple[dict[tuple[uuid.UUID, str], list[int]], dict[uuid.UUID, np.ndarray]]:
    """Per (tester, kind): [analysed snapshots, of them read as the kind's target class]; per tester,
    the sum of each class's probability over their analysed resting snapshots (a class missing from
    a row counts 0). Calibrated with the active calibration: the rows current on it are counted in
    the database, the others (another version) recomputed here from their raw values; raw without one.
    One query whatever the number of testers, a second one where some are stale. Of `testers` only
    (an audience) when given."""
    analysed = BaselineSnapshot.objects.filter(
        campaign=campaign, model_version=model, outcome=BaselineSnapshot.Outcome.PREDICTION
    )
    if testers is not None:
        analysed = analysed.filter(tester_id__in=list(testers))
    prefix = "" if calibration is None else "calibrated_"
    current = Q()
    if calibration is not None:
        current = Q(calibration_version=calibration.version, calibrated_probabilities__isnull=False)
    resting, posed = BaselineSnapshot.Kind.RESTING, list(POSED_TARGETS)
    # One row per tester, over their current snapshots: the resting ones, per posed kind its
    # snapshots and those read as its target, per class the sum over the resting ones; and how many
    # of theirs are stale (the second query reads those only when there are any).
    aggregates: dict[str, Any] = {
        "stale": Count("pk", filter=~current) if calibration is not None else Value(0),
        "resting": Count("pk", filter=current & Q(kind=resting)),
    }
    for i, (kind, (_key, target, _label)) in enumerate(POSED_TARGETS.items()):
        aggregates[f"posed_{i}"] = Count("pk", filter=current & Q(kind=kind))
        aggregates[f"read_{i}"] = Count("pk", filter=current & Q(kind=kind, **{f"{prefix}top_class": target}))
    for i, name in enumerate(class_names):
        probability = Coalesce(Cast(KT(f"{prefix}probabilities__{name}"), FloatField()), Value(0.0))
        aggregates[f"sum_{i}"] = Sum(probability, filter=current & Q(kind=resting))
    rows = analysed.values_list("tester_id").annotate(**aggregates).order_by()
    counts: dict[tuple[uuid.UUID, str], list[int]] = {}
    sums: dict[uuid.UUID, np.ndarray] = {}
    any_stale = False
    for tester_id, stale_snapshots, resting_snapshots, *numbers in rows:
        any_stale = any_stale or bool(stale_snapshots)
        posed_numbers, class_sums = numbers[: 2 * len(posed)], numbers[2 * len(posed) :]
        if resting_snapshots:
            counts[(tester_id, resting)] = [resting_snapshots, 0]
            sums[tester_id] = np.asarray(class_sums, dtype=np.float64)
        for kind, snapshots, read in zip(posed, posed_numbers[::2], posed_numbers[1::2], strict=True):
            if snapshots:
                counts[(tester_id, kind)] = [snapshots, read]
    if calibration is None or not any_stale:
        return counts, sums
    stale = list(analysed.exclude(current).values_list("tester_id", "kind", "probabilities"))
    recalibrated = calibrate_rows([raw for _tester, _kind, raw in stale], calibration.parameters)
    for (tester_id, kind, _raw), fields in zip(stale, recalibrated, strict=True):
        tally = counts.setdefault((tester_id, kind), [0, 0])
        tally[0] += 1
        if kind == resting:
            probabilities = fields["calibrated_probabilities"]
            row = np.array([float(probabilities.get(name, 0.0)) for name in class_names])
            sums[tester_id] = sums.get(tester_id, np.zeros(len(class_names))) + row
        elif kind in POSED_TARGETS and fields["calibrated_top_class"] == POSED_TARGETS[kind][1]:
            tally[1] += 1
    return counts, sums


def _posed(snapshots: int, read: int, target: str) -> dict[str, Any]:
    return {"snapshots": snapshots, f"read_as_{target}": read / snapshots if snapshots else None}


def baseline_summary(
    campaign: Campaign,
    matrix: Any | None,
    *,
    known: tuple[ModelVersion | None, Calibration | None] | None = None,
    per_tester: bool = True,
    testers: Collection[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Each tester's baseline and the variants relative to it, for the campaign's effective model.

    `matrix` is the dashboard's dashboard.matrix.TesterMatrix for that model (or
    None): its `tester_ids`, `included` (counted testers), `variants`, `class_names` and
    `mean_calibrated` (testers x variants x classes, None without an active calibration).
    `known`: the effective model and its active calibration, where the caller has looked them up.
    `per_tester=False` leaves the "testers" list empty (the dashboard's panel shows none of it).
    `testers`: only their snapshots (an audience; `matrix` is then restricted to them as well).

    Returns (every probability and share a float in 0..1, differences in -1..1):

        {
          "model": model version id, or None when there is no model,
          "calibrated": True if the probabilities are calibrated (an active calibration), else raw,
          "class_names": [class name, ...],
          "testers_with_baseline": testers with at least one analysed resting snapshot,
          "counted_with_baseline": of those, the testers the matrix counts,
          "testers": [  # every tester with an analysed baseline snapshot of any kind, by id
            {
              "tester": "<uuid>",
              "counted": bool,                # counted in the matrix
              "resting_snapshots": int,       # analysed resting snapshots
              "baseline": {class: mean probability} or None (no analysed resting snapshot),
              "posed_smile": {"snapshots": int, "read_as_happy": share or None},
              "posed_neutral": {"snapshots": int, "read_as_neutral": share or None},
            }, ...
          ],
          "variants": [  # the matrix's variants, in its order; [] without calibrated means
            {
              "variant": "<uuid>", "label": str,
              "testers": counted testers with a baseline and a calibrated mean on this variant,
              "classes": {
                class: {
                  "share": mean over those testers of their mean probability on the variant,
                  "resting": mean over the same testers of their baseline,
                  "relative": {"n", "mean", "low", "high"},  # per-tester (share - baseline)
                }, ...
              },
            }, ...
          ],
          "posed": {  # over testers with such snapshots: mean of their shares with a t interval
            "smile_read_as_happy": {"n", "mean", "low", "high"},
            "neutral_read_as_neutral": {"n", "mean", "low", "high"},
          },
        }

    The intervals are t intervals over testers (low/high None below two testers); a paired A-B
    difference computed from the "relative" values equals the one without a baseline, since each
    tester's baseline cancels in it."""
    if known is not None:
        model, calibration = known
    else:
        model = get_model_for_campaign(campaign)
        calibration = active_calibration(model)
    if matrix is not None and matrix.mean_calibrated is None:
        calibration = None  # the variants' side is raw too: compare like with like
    empty_posed = {label: stats.t_interval([]).as_dict() for _key, _target, label in POSED_TARGETS.values()}
    if model is None:
        summary = {"model": None, "calibrated": False, "class_names": [], "testers": [], "variants": []}
        return {**summary, "testers_with_baseline": 0, "counted_with_baseline": 0, "posed": empty_posed}
    class_names = list(model.class_names)
    counts, sums = _tallies(campaign, model, calibration, class_names, testers)
    resting = BaselineSnapshot.Kind.RESTING
    baselines = {tester_id: total / counts[(tester_id, resting)][0] for tester_id, total in sums.items()}
    counted = set()
    if matrix is not None:
        counted = {tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep}

    posed_summary = {}
    for kind, (_key, _target, label) in POSED_TARGETS.items():
        shares = [read / snapshots for (_tester, of), (snapshots, read) in counts.items() if of == kind and snapshots]
        posed_summary[label] = stats.t_interval(shares, bounds=SHARE_BOUNDS).as_dict()

    return {
        "model": model.pk,
        "calibrated": calibration is not None,
        "class_names": class_names,
        "testers_with_baseline": len(baselines),
        "counted_with_baseline": len(counted & set(baselines)),
        "testers": _tester_entries(counts, baselines, counted, class_names) if per_tester else [],
        "variants": _relative_to_baseline(matrix, baselines, class_names),
        "posed": posed_summary,
    }


def _tester_entries(
    counts: dict[tuple[uuid.UUID, str], list[int]],
    baselines: dict[uuid.UUID, np.ndarray],
    counted: set[uuid.UUID],
    class_names: list[str],
) -> list[dict[str, Any]]:
    entries = []
    # By id (a UUID orders as its integer; comparing the integers is much the quicker).
    for tester_id in sorted({tester_id for tester_id, _kind in counts}, key=lambda tester_id: tester_id.int):
        baseline = baselines.get(tester_id)
        entry = {
            "tester": str(tester_id),
            "counted": tester_id in counted,
            "resting_snapshots": counts.get((tester_id, BaselineSnapshot.Kind.RESTING), [0, 0])[0],
            "baseline": None if baseline is None else dict(zip(class_names, map(float, baseline), strict=True)),
        }
        for kind, (key, target, _label) in POSED_TARGETS.items():
            entry[key] = _posed(*counts.get((tester_id, kind), [0, 0]), target)
        entries.append(entry)
    return entries


def _relative_to_baseline(
    matrix: Any | None, baselines: dict[uuid.UUID, np.ndarray], class_names: list[str]
) -> list[dict[str, Any]]:
    """Per variant and class: the counted testers' mean probabilities minus their own baselines."""
    if matrix is None or matrix.mean_calibrated is None or list(matrix.class_names) != class_names:
        return []
    rows = [
        row
        for row, (tester_id, keep) in enumerate(zip(matrix.tester_ids, matrix.included, strict=True))
        if keep and tester_id in baselines
    ]
    resting = np.array([baselines[matrix.tester_ids[row]] for row in rows]).reshape(len(rows), len(class_names))
    variants = []
    for v, variant in enumerate(matrix.variants):
        means = matrix.mean_calibrated[rows, v, :].reshape(len(rows), len(class_names))
        present = ~np.isnan(means).any(axis=1)
        shares, own = means[present], resting[present]
        classes = {}
        for c, class_name in enumerate(class_names):
            classes[class_name] = {
                "share": float(shares[:, c].mean()) if len(shares) else None,
                "resting": float(own[:, c].mean()) if len(own) else None,
                "relative": stats.t_interval(shares[:, c] - own[:, c], bounds=DIFFERENCE_BOUNDS).as_dict(),
            }
        variants.append(
            {"variant": str(variant.pk), "label": variant.label, "testers": int(present.sum()), "classes": classes}
        )
    return variants


def baseline_panel(
    *,
    campaign: Campaign,
    matrix: Any,
    model: ModelVersion | None,
    calibration: Calibration | None,
    testers: Collection[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """The dashboard's panel: baseline_summary without the per-tester list (the baseline export has
    it), with two sentences: "sentence" (who the table rests on, or why it is empty) and
    "posed_sentence" (how often posed expressions were read as posed; "" without any)."""
    summary = baseline_summary(campaign, matrix, known=(model, calibration), per_tester=False, testers=testers)
    del summary["testers"]
    counted = int(matrix.included.sum()) if matrix is not None else 0
    return {
        **summary,
        "sentence": coverage_sentence(summary, counted=counted),
        "posed_sentence": posed_sentence(summary["posed"]),
    }


def baseline_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
    """CSV (exports.EXPORTS style): one row per tester with an analysed baseline snapshot, by the
    pseudonymous id the other exports use: whether the dashboard counts them, their resting
    snapshots, their baseline per class, and how often their posed expressions were read as posed.
    `testers`: only theirs (an audience)."""
    model = get_model_for_campaign(campaign)
    calibration = active_calibration(model)
    class_names = list(model.class_names) if model else []
    header = ["tester", "counted", "resting_snapshots", *[f"baseline_{name}" for name in class_names]]
    header += ["posed_smile_snapshots", "smile_read_as_happy", "posed_neutral_snapshots", "neutral_read_as_neutral"]
    if model is None:
        return header, iter(())
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    matrix = tester_matrix(
        campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration
    )
    if testers is not None:
        matrix = matrix.only(testers)
    summary = baseline_summary(campaign, matrix, known=(model, calibration), testers=testers)

    def rows() -> Iterator[tuple]:
        for entry in summary["testers"]:
            baseline = entry["baseline"] or {}
            smile, neutral = entry["posed_smile"], entry["posed_neutral"]
            yield (
                entry["tester"],
                int(entry["counted"]),
                entry["resting_snapshots"],
                *(_rounded(baseline.get(name)) for name in class_names),
                smile["snapshots"],
                _rounded(smile["read_as_happy"]),
                neutral["snapshots"],
                _rounded(neutral["read_as_neutral"]),
            )

    return header, rows()


def _rounded(value: float | None) -> float | str:
    return "" if value is None else round(value, 6)


# --- Words ---


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}"


def coverage_sentence(summary: dict[str, Any], *, counted: int) -> str:
    """Whom the table rests on, or why it has nothing to show."""
    if summary["model"] is None:
        return ""
    if not summary["calibrated"]:
        return _(
            "Comparing with each tester's resting face needs a calibration of the model (manage.py "
            "calibrate_model): the variants' side is read on calibrated probabilities."
        )
    with_baseline = summary["counted_with_baseline"]
    if not with_baseline:
        return _("No counted tester has a resting-face baseline yet.")
    if not any(variant["testers"] for variant in summary["variants"]):
        # Their snapshots of the advertisements wait for the recompute with the active calibration.
        return _("No counted tester with a resting-face baseline has calibrated snapshots of the advertisements yet.")
    return ngettext(
        "%(with)s of %(counted)s counted testers has a resting-face baseline (their relaxed face before the first "
        "advertisement); the table rests on them.",
        "%(with)s of %(counted)s counted testers have a resting-face baseline (their relaxed face before the first "
        "advertisement); the table rests on them.",
        with_baseline,
    ) % {"with": with_baseline, "counted": counted}


def _posed_figure(interval: dict[str, Any]) -> str:
    share = _percent(interval["mean"])
    if interval["low"] is None:
        return f"{share} %"
    return _("%(share)s %% (95 %% interval %(low)s–%(high)s %%)") % {
        "share": share,
        "low": _percent(interval["low"]),
        "high": _percent(interval["high"]),
    }


def posed_sentence(posed: dict[str, dict[str, Any]]) -> str:
    """How often the model read posed smiles as happy and posed neutral faces as neutral, averaged
    over testers; "" when nobody posed."""
    parts = []
    smile, neutral = posed["smile_read_as_happy"], posed["neutral_read_as_neutral"]
    if smile["n"]:
        parts.append(
            ngettext(
                "Posed smiles read as happy: %(figure)s, %(n)s tester.",
                "Posed smiles read as happy: %(figure)s, %(n)s testers.",
                smile["n"],
            )
            % {"figure": _posed_figure(smile), "n": smile["n"]}
        )
    if neutral["n"]:
        parts.append(
            ngettext(
                "Posed neutral faces read as neutral: %(figure)s, %(n)s tester.",
                "Posed neutral faces read as neutral: %(figure)s, %(n)s testers.",
                neutral["n"],
            )
            % {"figure": _posed_figure(neutral), "n": neutral["n"]}
        )
    return " ".join(parts)
