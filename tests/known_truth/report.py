"""The known-truth campaign's numbers held against the truth, and the table that prints them.

The truth the estimate is held against is the dashboard's own estimand: per included tester (at
least `min_frames_per_tester` predictions on every variant) the share of each emotion among their
frames that got a prediction, averaged over testers (every tester weighs the same, as in the
dashboard). The pooled share over those frames and over every uploaded frame are printed beside it,
so a quality gate that drops one emotion more than another shows up as a gap between them.

The dashboard may show groups of emotions; a class named "other" is then held against the share of
every emotion it does not name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tests.known_truth.campaign import PlannedFrame, TesterLink, UploadBooks

# The truth calls a difference between variants a tie below this (as ml.quantification does).
TIE_BELOW = 0.05
FOCUS_CLASSES = ("happy", "sad", "neutral")
PAIRED_CLASSES = ("happy", "sad")
OTHER_GROUP = "other"


# --- Truth against the dashboard --------------------------------------------------------------------


def _shares(labels: Sequence[str], class_names: Sequence[str]) -> dict[str, float | None]:
    """Share of each class; "other" (a group the dashboard may show) is every label not named."""
    if not labels:
        return dict.fromkeys(class_names)
    counts = Counter(labels)
    named = set(class_names) - {OTHER_GROUP}
    shares: dict[str, float | None] = {}
    for name in class_names:
        if name == OTHER_GROUP and name not in counts:
            shares[name] = sum(n for label, n in counts.items() if label not in named) / len(labels)
        else:
            shares[name] = counts.get(name, 0) / len(labels)
    return shares


def _tester_weighted(per_tester: list[list[str]], class_names: Sequence[str]) -> dict[str, float | None]:
    rows = [_shares(labels, class_names) for labels in per_tester if labels]
    if not rows:
        return dict.fromkeys(class_names)
    return {name: float(np.mean([row[name] for row in rows])) for name in class_names}


def _verdict(difference: float | None, clear: bool | None) -> str:
    if difference is None:
        return "none"
    if not clear:
        return "tie"
    return "B" if difference > 0 else "A"


def _true_verdict(difference: float | None) -> str:
    if difference is None:
        return "none"
    return "B" if difference > TIE_BELOW else "A" if difference < -TIE_BELOW else "tie"


def _class_row(
    truth: float | None, pooled: float | None, uploaded: float | None, ratio: dict, estimate: dict | None
) -> dict:
    share = estimate["share"] if estimate else None
    known = share is not None and truth is not None
    return {
        "true_share": truth,
        "true_share_pooled_predicted": pooled,
        "true_share_uploaded": uploaded,
        "threshold_ratio": ratio.get("ratio"),
        "threshold_ratio_tester_mean": (ratio.get("tester_mean") or {}).get("mean"),
        "estimated_share": share,
        "estimate_low": estimate["low"] if estimate else None,
        "estimate_high": estimate["high"] if estimate else None,
        "error": share - truth if known else None,
        "interval_covers_truth": bool(estimate["low"] <= truth <= estimate["high"]) if known else None,
    }


def _paired(
    rows: Sequence[Mapping[str, Any]],
    difference_key: str,
    key_of: Mapping[str, str],
    variants: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """The dashboard's comparison rows of the first two variants, as B - A, with the true difference."""
    first, second = list(variants)[:2]
    picked = {}
    for row in rows:
        name = row["class_name"]
        if {key_of.get(row["variant_a"]), key_of.get(row["variant_b"])} != {first, second}:
            continue
        if name not in variants[first]["classes"]:
            continue
        sign = 1 if key_of[row["variant_a"]] == first else -1  # the dashboard's b - a, turned into B - A
        difference = None if row.get(difference_key) is None else sign * row[difference_key]
        low, high = (None, None) if row.get("low") is None else sorted((sign * row["low"], sign * row["high"]))
        truth_a = variants[first]["classes"][name]["true_share"]
        truth_b = variants[second]["classes"][name]["true_share"]
        true_difference = None if truth_a is None or truth_b is None else truth_b - truth_a
        verdict = _verdict(difference, row.get("clear"))
        picked[name] = {
            "difference_b_minus_a": difference,
            "low": low,
            "high": high,
            "p_value": row.get("p_value"),
            "verdict": verdict,
            "true_difference_b_minus_a": true_difference,
            "true_verdict": _true_verdict(true_difference),
            "right": verdict == _true_verdict(true_difference),
        }
    return picked


def report_of(
    *,
    plan: Sequence[PlannedFrame],
    outcomes: Mapping[tuple[int, int], str],
    books: UploadBooks,
    links: Sequence[TesterLink],
    dashboard: Mapping[str, Any],
) -> dict[str, Any]:
    """Per variant and class: the truth three ways, the dashboard's thresholded ratio and estimated
    share (with interval), the error; the paired comparisons against the true difference; the
    books, and the outcomes per true emotion (does a gate drop one emotion more than others?)."""
    keys = list(links[0].variant_ids)
    key_of = {variant_id: key for key, variant_id in links[0].variant_ids.items()}
    shares_block = dashboard.get("estimated_shares") or {}
    shown = shares_block["variants"][0]["classes"] if shares_block.get("variants") else dashboard["class_names"]
    class_names = [row["class_name"] for row in shown]
    minimum = max(1, int(dashboard["min_frames_per_tester"]))
    sent = [frame for frame in plan if (frame.tester, frame.sequence) in books.accepted]
    predicted = [frame for frame in sent if outcomes.get((frame.tester, frame.sequence)) == "prediction"]
    per_tester: dict[tuple[int, str], list[str]] = {}
    for frame in predicted:
        per_tester.setdefault((frame.tester, frame.variant), []).append(frame.label)
    included = [t for t in range(len(links)) if all(len(per_tester.get((t, key), [])) >= minimum for key in keys)]
    ratios = {key_of[row["id"]]: {c["class_name"]: c for c in row["classes"]} for row in dashboard["variants"]}
    estimates = {
        key_of[row["id"]]: {c["class_name"]: c for c in row["classes"]} for row in shares_block.get("variants", [])
    }
    variants: dict[str, Any] = {}
    for key in keys:
        uploaded = _shares([frame.label for frame in sent if frame.variant == key], class_names)
        pooled_labels = [frame.label for frame in predicted if frame.variant == key and frame.tester in included]
        pooled = _shares(pooled_labels, class_names)
        truth = _tester_weighted([per_tester.get((tester, key), []) for tester in included], class_names)
        variants[key] = {
            "uploaded": sum(frame.variant == key for frame in sent),
            "predicted_frames_of_included_testers": len(pooled_labels),
            "classes": {
                name: _class_row(
                    truth[name],
                    pooled[name],
                    uploaded[name],
                    ratios.get(key, {}).get(name, {}),
                    estimates.get(key, {}).get(name),
                )
                for name in class_names
            },
        }
    comparisons = {
        "estimated_share": _paired(shares_block.get("comparisons", []), "difference", key_of, variants),
        "threshold_ratio": _paired(dashboard.get("comparisons", []), "mean_difference", key_of, variants),
    }
    focus = [name for name in FOCUS_CLASSES if name in class_names]
    errors = [variants[key]["classes"][name]["error"] for key in keys for name in focus]
    # No estimate (e.g. every prediction stale: computed before the active calibration reached the
    # workers) is no answer, not an error of 0.
    largest = max(abs(error) for error in errors) if errors and None not in errors else None
    by_emotion: dict[str, Counter] = {}
    for frame in sent:
        by_emotion.setdefault(frame.label, Counter())[outcomes.get((frame.tester, frame.sequence), "missing")] += 1
    paired_classes = [name for name in PAIRED_CLASSES if name in class_names]
    return {
        "class_names": class_names,
        "variants_order": keys,
        "model": dashboard.get("model"),
        "calibration": dashboard.get("calibration"),
        "estimator": shares_block.get("estimator"),
        # Present when the dashboard says more about its estimator (grouping, prior weight).
        "estimator_details": {
            key: shares_block[key] for key in ("estimator_label", "grouping", "regularisation") if key in shares_block
        },
        "threshold": dashboard.get("threshold"),
        "testers": {
            "uploading": len(links),
            "included_by_dashboard": dashboard["testers"]["included"],
            "included_here": len(included),
        },
        "variants": variants,
        "comparisons": comparisons,
        "largest_error_focus": largest,
        "stale_predictions": (dashboard.get("calibration") or {}).get("stale_frames"),
        "focus_classes": focus,
        "paired_right": {
            source: all(name in rows and rows[name]["right"] for name in paired_classes)
            for source, rows in comparisons.items()
        },
        "books": books_summary(plan, outcomes, books, dashboard),
        "outcomes_by_true_emotion": outcomes_by_emotion(by_emotion),
    }


def books_summary(
    plan: Sequence[PlannedFrame],
    outcomes: Mapping[tuple[int, int], str],
    books: UploadBooks,
    dashboard: Mapping[str, Any],
) -> dict[str, Any]:
    stored = Counter(outcomes.values())
    return {
        "planned": len(plan),
        "uploaded_204": len(books.accepted),
        "upload_statuses": dict(books.statuses),
        "refused_for_good": len(books.refused),
        "frames_stored": len(outcomes),
        "lost": len(books.accepted - set(outcomes)),
        "pending": stored.get("pending", 0),
        "predictions": stored.get("prediction", 0),
        "outcomes": dict(stored),
        "dashboard_funnel": {
            key: dashboard["frames"][key] for key in ("received", "pending", "face_found", "passed_quality")
        },
        "upload_seconds": round(books.seconds, 1),
    }


def outcomes_by_emotion(by_emotion: Mapping[str, Counter]) -> dict[str, Any]:
    """Per true emotion: outcome counts and the share that got a prediction, with a chi-square test
    of independence (emotion x predicted or not): a small p says the gates drop some emotions more."""
    from scipy.stats import chi2_contingency

    names = sorted(by_emotion)
    rows = {
        name: {
            "outcomes": dict(by_emotion[name]),
            "uploaded": sum(by_emotion[name].values()),
            "predicted_share": by_emotion[name].get("prediction", 0) / max(1, sum(by_emotion[name].values())),
        }
        for name in names
    }
    table = np.array(
        [
            [by_emotion[n].get("prediction", 0), sum(by_emotion[n].values()) - by_emotion[n].get("prediction", 0)]
            for n in names
        ]
    )
    p_value = None
    if len(names) > 1 and table[:, 1].sum() > 0 and table[:, 0].sum() > 0:
        p_value = float(chi2_contingency(table)[1])
    shares = [row["predicted_share"] for row in rows.values()]
    return {
        "per_emotion": rows,
        "predicted_share_range": [min(shares), max(shares)] if shares else None,
        "chi_square_p_value": p_value,
    }


# --- The table ------------------------------------------------------------------------------------


def _cell(value: float | None, width: int = 6, signed: bool = False) -> str:
    if value is None:
        return "-".rjust(width)
    return f"{value:+.3f}".rjust(width) if signed else f"{value:.3f}".rjust(width)


def format_report(report: Mapping[str, Any]) -> str:
    lines = []
    details = report.get("estimator_details") or {}
    extra = ", ".join(f"{key} {details[key]}" for key in ("grouping", "regularisation") if key in details)
    calibration = report.get("calibration") or {}
    model = report.get("model") or {}
    lines.append(
        f"model {model.get('name')} {model.get('version')}; calibration {calibration.get('version')} "
        f"({calibration.get('method')}, {calibration.get('faces')} faces); estimator {report.get('estimator')}"
        f"{f' ({extra})' if extra else ''}; "
        f"threshold {report.get('threshold')}"
    )
    testers = report["testers"]
    lines.append(
        f"testers: {testers['uploading']} uploading, {testers['included_by_dashboard']} included by the dashboard"
    )
    header = (
        f"  {'emotion':<9} {'true':>6} {'pooled':>6} {'upl.':>6} | {'ratio@t':>7} | {'est.':>6} "
        f"{'95% interval':>13} {'error':>7}"
    )
    for key, variant in report["variants"].items():
        lines.append(
            f"variant {key}: {variant['uploaded']} frames uploaded, "
            f"{variant['predicted_frames_of_included_testers']} predictions of included testers"
        )
        lines.append(header)
        for name, row in variant["classes"].items():
            interval = (
                f"{row['estimate_low']:.3f}-{row['estimate_high']:.3f}" if row["estimate_low"] is not None else "-"
            )
            flag = "" if row["interval_covers_truth"] in (None, True) else " (interval misses)"
            lines.append(
                f"  {name:<9} {_cell(row['true_share'])} {_cell(row['true_share_pooled_predicted'])} "
                f"{_cell(row['true_share_uploaded'])} | {_cell(row['threshold_ratio'], 7)} | "
                f"{_cell(row['estimated_share'])} {interval:>13} {_cell(row['error'], 7, signed=True)}{flag}"
            )
    lines.append(
        "  (true: tester-weighted share among frames with a prediction, the dashboard's estimand; pooled: same "
        "frames pooled; upl.: all uploaded frames; ratio@t: frames counted at the threshold / analysed frames)"
    )
    largest = report.get("largest_error_focus")
    if largest is None:
        lines.append(
            f"no estimated shares on the dashboard (stale predictions: {report.get('stale_predictions')}): "
            "counted as a miss"
        )
    else:
        lines.append(f"largest |error| over {', '.join(report['focus_classes'])}: {_cell(largest).strip()}")
    for source, rows in report["comparisons"].items():
        for name in PAIRED_CLASSES:
            if name not in rows:
                continue
            row = rows[name]
            lines.append(
                f"paired ({source}), {name}: B - A = {_cell(row['difference_b_minus_a'], 0, True)} "
                f"[{_cell(row['low'], 0, True)}, {_cell(row['high'], 0, True)}] picks {row['verdict']}; truth "
                f"{_cell(row['true_difference_b_minus_a'], 0, True)} -> {row['true_verdict']}: "
                f"{'right' if row['right'] else 'WRONG'}"
            )
    books = report["books"]
    lines.append(
        f"books: {books['planned']} planned, {books['uploaded_204']} uploaded (204), {books['frames_stored']} "
        f"stored, {books['predictions']} predictions, lost {books['lost']}, pending {books['pending']}; "
        f"outcomes {books['outcomes']}"
    )
    gates = report["outcomes_by_true_emotion"]
    lines.append("outcomes per true emotion (share that got a prediction):")
    for name, row in gates["per_emotion"].items():
        others = {key: value for key, value in row["outcomes"].items() if key != "prediction"}
        lines.append(f"  {name:<9} {row['uploaded']:>5} uploaded, {row['predicted_share']:.3f} predicted; {others}")
    p_value = gates["chi_square_p_value"]
    lines.append(
        "  chi-square (emotion x predicted): p = "
        + ("-" if p_value is None else f"{p_value:.3f}")
        + " (small p: the gates drop some emotions more than others)"
    )
    return "\n".join(lines)
