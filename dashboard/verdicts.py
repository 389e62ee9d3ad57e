"""The verdict at the top of the dashboard and how many testers it takes: decision.py on the
campaign's own testers, in words (verdict_wording.py).

Per emotion, every pair of variants is compared on one number per counted tester: the tester's share
of the emotion on one variant minus their share on the other (within-subject, so each person's
baseline drops out). With an active calibration the share is the tester's estimated share: the
estimated shares' estimator applied to the tester's own mean calibrated probabilities, without its
bounds (calibrated.per_tester_shares), so the verdict's points are the estimated shares' points.
Without a calibration, or while some frames wait for their calibrated values, it is the tester's
ratio of frames counted as the emotion at the threshold. A running campaign gets decision.py's
live, always-valid verdict, safe to read after every tester; a closed one the final fixed-sample
analysis. decision.py's differences are a - b in variant order (the paired comparisons below them
on the page use b - a).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Count, Sum
from django.utils import formats
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Variant
from dashboard import calibrated, counting, decision
from dashboard.verdict_wording import (
    pair_verdict_sentence,
    plan_assumptions,
    plan_sentences,
    variants_verdict_sentence,
)
from dashboard.wording import emotion_name
from inference.models import Calibration
from inference.selectors import get_model_for_campaign

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix

DEFAULT_EMOTIONS = ("happy", "sad")
PLANNED_EMOTION = "happy"  # the campaign page plans for happy, the emotion ads are usually judged on


def per_tester_shares(matrix: TesterMatrix, calibration: Calibration | None) -> tuple[np.ndarray, str]:
    """testers x variants x classes, and which quantity it is: "calibrated" (each tester's estimated
    shares, calibrated.per_tester_shares), or "ratios" without a calibration, or "stale" while some
    frames wait for their calibrated values (counted raw meanwhile, as everywhere on the page, so
    every counted tester takes part)."""
    if calibration is None or matrix.mean_calibrated is None:
        return matrix.ratios(), "ratios"
    if matrix.stale_frames:
        return matrix.ratios(), "stale"
    return calibrated.per_tester_shares(calibration, matrix.shares_input()), "calibrated"


def pair_rules(variant_count: int) -> decision.Rules:
    """The rules of one pair: alpha split over the pairs, as decision.pairwise_verdicts splits it."""
    pairs = max(1, variant_count * (variant_count - 1) // 2)
    return replace(decision.RULES, alpha=decision.RULES.alpha / pairs)


def decision_summary(
    *,
    campaign: Campaign,
    matrix: TesterMatrix,
    calibration: Calibration | None,
    invited: int,
    threshold: float,
    detect: float = decision.DETECT,
) -> dict[str, Any]:
    """Every emotion's verdict and plan, as plain data with its sentences."""
    shares, basis = per_tester_shares(matrix, calibration)
    final = campaign.status == Campaign.Status.CLOSED
    labels = [variant.label for variant in matrix.variants]
    rules = pair_rules(len(labels))
    emotions, plans = [], []
    for c, class_name in enumerate(matrix.class_names):
        column = shares[:, :, c]
        pairs = decision.pairwise_verdicts(column, method="final" if final else "live")
        emotions.append(_emotion_verdict(class_name, pairs, column, matrix.variants))
        plans.append(_emotion_plan(class_name, column, rules=rules, invited=invited, detect=detect, more=not final))
    names = [name for name in DEFAULT_EMOTIONS if name in matrix.class_names] or matrix.class_names[:2]
    return {
        "method": "fixed_sample" if final else "always_valid",
        "final": final,
        "basis": basis,
        "method_note": _method_note(final),
        "basis_note": _basis_note(basis, threshold),
        "default_emotions": names,
        "emotions": emotions,
        "plan": {"detect": detect, "power": decision.POWER, "emotions": plans},
    }


def _emotion_verdict(
    class_name: str, pairs: list[decision.PairDecision], column: np.ndarray, variants: list[Variant]
) -> dict[str, Any]:
    labels = [variant.label for variant in variants]
    rows = [
        {
            "variant_a": str(variants[pair.a].pk),
            "variant_b": str(variants[pair.b].pk),
            "label_a": labels[pair.a],
            "label_b": labels[pair.b],
            **pair.as_dict(),
        }
        for pair in pairs
    ]
    leader = _overall_leader(pairs, len(variants))
    if not pairs:
        sentence = _("Nothing to compare on %(emotion)s: the campaign needs at least two variants.") % {
            "emotion": emotion_name(class_name)
        }
    elif len(pairs) == 1:
        sentence = pair_verdict_sentence(
            class_name, pairs[0].decision, label_a=labels[0], label_b=labels[1], minimum=decision.RULES.min_testers
        )
    else:
        complete = column[~np.isnan(column).any(axis=1)]
        best = labels[int(np.argmax(complete.mean(axis=0)))] if len(complete) else None
        sentence = variants_verdict_sentence(
            class_name,
            [(labels[pair.a], labels[pair.b], pair.decision) for pair in pairs],
            leader=labels[leader] if leader is not None else None,
            leads_over=[
                (labels[pair.b if pair.a == leader else pair.a], pair.decision)
                for pair in pairs
                if leader in (pair.a, pair.b)
            ],
            best=best,
            minimum=decision.RULES.min_testers,
        )
    return {
        "class_name": class_name,
        "label": emotion_name(class_name),
        "leader": str(variants[leader].pk) if leader is not None else None,
        "leader_label": labels[leader] if leader is not None else None,
        "clear": leader is not None,
        "n": pairs[0].decision.n if pairs else 0,
        "sentence": sentence,
        "pairs": rows,
    }


def _overall_leader(pairs: list[decision.PairDecision], variant_count: int) -> int | None:
    """The variant named the winner in every pair it is in, if one is."""

    def winner(pair: decision.PairDecision) -> int | None:
        return {"a": pair.a, "b": pair.b}.get(pair.decision.leader or "")

    for v in range(variant_count):
        own = [pair for pair in pairs if v in (pair.a, pair.b)]
        if own and all(winner(pair) == v for pair in own):
            return v
    return None


def _emotion_plan(
    class_name: str, column: np.ndarray, *, rules: decision.Rules, invited: int | None, detect: float, more: bool
) -> dict[str, Any]:
    """The plan for the pair that needs the most testers (the only pair, with two variants)."""
    complete = column[~np.isnan(column).any(axis=1)]
    variant_count = column.shape[1]
    counted = len(complete)
    candidates = [
        decision.plan_testers(
            difference=detect,
            differences=complete[:, a] - complete[:, b],
            counted=counted,
            invited=invited,
            rules=rules,
        )
        for a in range(variant_count)
        for b in range(a + 1, variant_count)
    ] or [decision.plan_testers(difference=detect, counted=counted, invited=invited, rules=rules)]
    plan = max(candidates, key=lambda candidate: candidate.always_valid_testers)
    return _plan_row(class_name, plan, invited=invited, more=more, pairs=len(candidates))


def _plan_row(class_name: str, plan: decision.Plan, *, invited: int | None, more: bool, pairs: int) -> dict[str, Any]:
    return {
        "class_name": class_name,
        "label": emotion_name(class_name),
        "sentences": plan_sentences(class_name, plan, more=more),
        "assumptions": plan_assumptions(class_name, plan, minimum=decision.MIN_OBSERVED, invited=invited, pairs=pairs),
        **plan.as_dict(),
    }


def _method_note(final: bool) -> str:
    if final:
        return _(
            "The campaign is closed: this is the final fixed-sample analysis (a paired t interval over testers), "
            "meant to be read once, at the end."
        )
    return _(
        "Live verdict: its always-valid intervals may be read after every tester, as often as you like, without "
        "raising the risk of naming a winner that is not one."
    )


def _basis_note(basis: str, threshold: float) -> str:
    if basis == "calibrated":
        return _(
            "Each tester is compared with themselves: their estimated share of the emotion on one variant minus "
            "their share on another, each estimated from their calibrated probabilities as the estimated shares "
            "below are. Differences are in percentage points of share."
        )
    values = {"threshold": formats.number_format(threshold)}
    if basis == "stale":
        return (
            _(
                "Some frames are not yet computed with the calibration: meanwhile each tester is compared with "
                "themselves on their share of frames counted as the emotion at the threshold of %(threshold)s. "
                "Differences are in percentage points."
            )
            % values
        )
    return (
        _(
            "Without a calibration, each tester is compared with themselves on their share of frames counted as the "
            "emotion at the threshold of %(threshold)s. Differences are in percentage points."
        )
        % values
    )


# --- The campaign page: the planner before the dashboard has data ---------------------------------


def counted_testers(*, campaign: Campaign, variants: list[Variant]) -> int:
    """Testers with at least `min_frames_per_tester` analysed frames on every variant, as the dashboard
    counts them, in one GROUP BY: over inference.CalibratedSum's rows that count every prediction
    (a few per tester) on PostgreSQL, else over the predictions."""
    from inference.models import CalibratedSum, Prediction

    model = get_model_for_campaign(campaign)
    if model is None or not variants:
        return 0
    minimum = max(1, campaign.min_frames_per_tester)
    if counting.sums_available():
        rows = CalibratedSum.objects.filter(campaign=campaign, model_version=model, class_name="", variant__in=variants)
        frames = Sum("frames")
    else:
        rows = Prediction.objects.filter(campaign=campaign, model_version=model, variant__in=variants)
        frames = Count("*")
    cells = rows.values_list("tester_id", "variant_id").annotate(frames=frames).filter(frames__gte=minimum).order_by()
    per_tester = Counter(tester_id for tester_id, _variant_id, _frames in cells)
    return sum(1 for count in per_tester.values() if count == len(variants))


def campaign_plan(*, campaign: Campaign, variants: list[Variant], invited: int) -> dict[str, Any]:
    """How many testers a campaign like this needs to detect a difference of DETECT in happy share,
    from the assumed spread (the dashboard observes it) and the counted rate, observed once there are
    invitations and counted testers."""
    counted = counted_testers(campaign=campaign, variants=variants) if campaign.status != Campaign.Status.DRAFT else 0
    rules = pair_rules(len(variants))
    plan = decision.plan_testers(counted=counted, invited=invited, rules=rules)
    pairs = max(1, len(variants) * (len(variants) - 1) // 2)
    return _plan_row(PLANNED_EMOTION, plan, invited=invited, more=False, pairs=pairs)
