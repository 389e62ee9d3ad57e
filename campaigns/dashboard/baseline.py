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

No Django view calls this yet; the dashboard's selectors pass in the matrix they built.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import numpy as np

from campaigns.dashboard import stats
from campaigns.models import Campaign
from inference.calibrations import calibrate_rows
from inference.models import Calibration, ModelVersion
from inference.selectors import get_active_model
from sessions.models import BaselineSnapshot

DIFFERENCE_BOUNDS = (-1.0, 1.0)
SHARE_BOUNDS = (0.0, 1.0)
# A posed kind: its key per tester, the class it should be read as, and its key in "posed".
POSED_TARGETS = {
    BaselineSnapshot.Kind.POSED_SMILE: ("posed_smile", "happy", "smile_read_as_happy"),
    BaselineSnapshot.Kind.POSED_NEUTRAL: ("posed_neutral", "neutral", "neutral_read_as_neutral"),
}


def _model_and_calibration(campaign: Campaign) -> tuple[ModelVersion | None, Calibration | None]:
    """The campaign's effective model and its active calibration (as the dashboard's selectors
    decide them; looked up here so that they can import this module)."""
    model = campaign.model_version if campaign.model_version_id else get_active_model()
    if model is None:
        return None, None
    return model, Calibration.objects.filter(model_version=model, is_active=True).first()


def _snapshot_values(
    rows: list[tuple[Any, ...]], calibration: Calibration | None
) -> list[tuple[uuid.UUID, str, dict[str, float], str]]:
    """(tester, kind, probabilities, top class) per analysed snapshot: calibrated with the active
    calibration (recomputed from the raw values where the row holds another version), or raw."""
    values = []
    for tester_id, kind, raw, top_class, version, calibrated, calibrated_top in rows:
        if calibration is None:
            values.append((tester_id, kind, raw, top_class))
            continue
        if version != calibration.version or not calibrated:
            fields = calibrate_rows([raw], calibration.parameters)[0]
            calibrated, calibrated_top = fields["calibrated_probabilities"], fields["calibrated_top_class"]
        values.append((tester_id, kind, calibrated, calibrated_top))
    return values


def _posed(snapshots: list[str], target: str) -> dict[str, Any]:
    read = sum(top == target for top in snapshots)
    return {"snapshots": len(snapshots), f"read_as_{target}": read / len(snapshots) if snapshots else None}


def baseline_summary(campaign: Campaign, matrix: Any | None) -> dict[str, Any]:
    """Each tester's baseline and the variants relative to it, for the campaign's effective model.

    `matrix` is the dashboard's campaigns.dashboard.selectors.TesterMatrix for that model (or
    None): its `tester_ids`, `included` (counted testers), `variants`, `class_names` and
    `mean_calibrated` (testers x variants x classes, None without an active calibration).

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
    model, calibration = _model_and_calibration(campaign)
    if matrix is not None and matrix.mean_calibrated is None:
        calibration = None  # the variants' side is raw too: compare like with like
    empty_posed = {label: stats.t_interval([]).as_dict() for _key, _target, label in POSED_TARGETS.values()}
    if model is None:
        summary = {"model": None, "calibrated": False, "class_names": [], "testers": [], "variants": []}
        return {**summary, "testers_with_baseline": 0, "counted_with_baseline": 0, "posed": empty_posed}
    class_names = list(model.class_names)
    rows = list(
        BaselineSnapshot.objects.filter(
            campaign=campaign, model_version=model, outcome=BaselineSnapshot.Outcome.PREDICTION
        )
        .order_by("tester_id", "kind", "sequence")
        .values_list(
            "tester_id",
            "kind",
            "probabilities",
            "top_class",
            "calibration_version",
            "calibrated_probabilities",
            "calibrated_top_class",
        )
    )
    resting: dict[uuid.UUID, list[list[float]]] = defaultdict(list)
    posed: dict[tuple[uuid.UUID, str], list[str]] = defaultdict(list)
    for tester_id, kind, probabilities, top_class in _snapshot_values(rows, calibration):
        if kind == BaselineSnapshot.Kind.RESTING:
            resting[tester_id].append([float(probabilities.get(name, 0.0)) for name in class_names])
        else:
            posed[(tester_id, kind)].append(top_class)
    baselines = {tester_id: np.mean(values, axis=0) for tester_id, values in resting.items()}
    counted = set()
    if matrix is not None:
        counted = {tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep}

    testers = []
    for tester_id in sorted({row[0] for row in rows}):
        baseline = baselines.get(tester_id)
        entry = {
            "tester": str(tester_id),
            "counted": tester_id in counted,
            "resting_snapshots": len(resting.get(tester_id, [])),
            "baseline": None if baseline is None else dict(zip(class_names, map(float, baseline), strict=True)),
        }
        for kind, (key, target, _label) in POSED_TARGETS.items():
            entry[key] = _posed(posed.get((tester_id, kind), []), target)
        testers.append(entry)

    posed_summary = {}
    for key, target, label in POSED_TARGETS.values():
        shares = [entry[key][f"read_as_{target}"] for entry in testers if entry[key]["snapshots"]]
        posed_summary[label] = stats.t_interval(shares, bounds=SHARE_BOUNDS).as_dict()

    return {
        "model": model.pk,
        "calibrated": calibration is not None,
        "class_names": class_names,
        "testers_with_baseline": len(baselines),
        "counted_with_baseline": len(counted & set(baselines)),
        "testers": testers,
        "variants": _relative_to_baseline(matrix, baselines, class_names),
        "posed": posed_summary,
    }


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
