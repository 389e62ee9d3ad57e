"""The verdict that leads the dashboard and the testers planner, in plain words and the page's
language (wording.py's helpers for numbers and emotion names). From decision.Decision: `points` is the
ahead variant's lead and `points_low`/`points_high` its interval, in percentage points; `ahead` and
`leader` name a pair's first ("a") or second ("b") variant. From decision.Plan: the counted testers and
invitations, with where the spread and the counted rate came from."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dashboard.wording import _decimal, _points, emotion_name

# decision.Decision's numbers: `points` is the ahead variant's lead, `points_low`/`points_high` its
# interval, in percentage points; `ahead`/`leader` name the pair's first ("a") or second ("b") variant.


def _signed(points: float) -> str:
    """Percentage points with a real minus sign: "−4.2", "12"."""
    return _points(points / 100).replace("-", "−")


def _percent(fraction: float) -> str:
    """0.95 -> "95", 0.9833 -> "98.3"."""
    return _decimal(f"{100 * fraction:.1f}".removesuffix(".0"))


def _interval_name(decision: Any, *, several: bool = False) -> str:
    values = {"confidence": _percent(decision.confidence)}
    if several:
        if decision.always_valid:
            return _("%(confidence)s %% always-valid intervals") % values
        return _("%(confidence)s %% intervals") % values
    if decision.always_valid:
        return _("%(confidence)s %% always-valid interval") % values
    return _("%(confidence)s %% interval") % values


def _span(decision: Any) -> str:
    """The ahead variant's lead as "3–12" when it lies above 0, else "−4 to 12"."""
    low, high = decision.points_low, decision.points_high
    if low >= 0:
        return f"{_signed(low)}–{_signed(high)}"
    return _("%(low)s to %(high)s") % {"low": _signed(low), "high": _signed(high)}


def _sides(decision: Any, label_a: str, label_b: str) -> tuple[str, str]:
    """(ahead, behind) on the estimate; the first variant first when they are level."""
    return (label_b, label_a) if decision.ahead == "b" else (label_a, label_b)


def _standing(decision: Any, label_a: str, label_b: str) -> str:
    if decision.ahead is None or round(decision.points, 1) == 0:
        return _("%(a)s and %(b)s are level") % {"a": label_a, "b": label_b}
    leader, other = _sides(decision, label_a, label_b)
    return _("%(leader)s is %(points)s points ahead of %(other)s") % {
        "leader": leader,
        "other": other,
        "points": _signed(decision.points),
    }


def _too_few(class_name: str, n: int, minimum: int, *, between: str) -> str:
    values = {"emotion": emotion_name(class_name), "n": n, "minimum": minimum, "between": between}
    if n == 0:
        return (
            _(
                "Too early to say on %(emotion)s: no tester is counted yet; at least %(minimum)s are needed to "
                "compare %(between)s."
            )
            % values
        )
    return (
        ngettext(
            "Too early to say on %(emotion)s: %(n)s tester is counted; at least %(minimum)s are needed to compare "
            "%(between)s.",
            "Too early to say on %(emotion)s: %(n)s testers are counted; at least %(minimum)s are needed to compare "
            "%(between)s.",
            n,
        )
        % values
    )


def pair_verdict_sentence(class_name: str, decision: Any, *, label_a: str, label_b: str, minimum: int) -> str:
    """The verdict on one emotion between two variants, from decision.live_verdict or final_verdict
    (differences a - b): who leads, by how many points, how sure; "Too early to say" on thin evidence."""
    n = decision.n
    if decision.reason == "few_testers":
        between = _("%(a)s and %(b)s") % {"a": label_a, "b": label_b}
        return _final(decision, _too_few(class_name, n, minimum, between=between))
    leader, other = _sides(decision, label_a, label_b)
    values = {
        "emotion": emotion_name(class_name),
        "leader": leader,
        "other": other,
        "points": _signed(decision.points),
        "standing": _standing(decision, label_a, label_b),
        "interval": _interval_name(decision),
        "span": _span(decision),
        "low": _signed(decision.points_low),
        "high": _signed(decision.points_high),
        "margin": _signed(100 * decision.margin),
        "n": n,
    }
    if decision.leader is not None:
        sentence = ngettext(
            "%(leader)s leads on %(emotion)s by %(points)s points over %(other)s (%(interval)s %(span)s points, "
            "%(n)s tester).",
            "%(leader)s leads on %(emotion)s by %(points)s points over %(other)s (%(interval)s %(span)s points, "
            "%(n)s testers).",
            n,
        )
    elif decision.verdict == "no_meaningful_difference":
        sentence = ngettext(
            "No difference that matters on %(emotion)s: %(standing)s, and the whole interval lies within "
            "±%(margin)s points: %(low)s to %(high)s points (%(interval)s, %(n)s tester).",
            "No difference that matters on %(emotion)s: %(standing)s, and the whole interval lies within "
            "±%(margin)s points: %(low)s to %(high)s points (%(interval)s, %(n)s testers).",
            n,
        )
    elif decision.verdict == "too_early":
        sentence = ngettext(
            "Too early to say on %(emotion)s: %(standing)s so far, but the interval is still wide: %(low)s to "
            "%(high)s points (%(interval)s, %(n)s tester).",
            "Too early to say on %(emotion)s: %(standing)s so far, but the interval is still wide: %(low)s to "
            "%(high)s points (%(interval)s, %(n)s testers).",
            n,
        )
    else:
        sentence = ngettext(
            "Not decided yet on %(emotion)s: %(standing)s, but the interval still includes no difference at all: "
            "%(low)s to %(high)s points (%(interval)s, %(n)s tester). More testers will tell.",
            "Not decided yet on %(emotion)s: %(standing)s, but the interval still includes no difference at all: "
            "%(low)s to %(high)s points (%(interval)s, %(n)s testers). More testers will tell.",
            n,
        )
    return _final(decision, sentence % values)


def _final(decision: Any, sentence: str) -> str:
    if decision.always_valid:
        return sentence
    return _("Final fixed-sample analysis: %(verdict)s") % {"verdict": sentence}


def variants_verdict_sentence(
    class_name: str,
    pairs: list[tuple[str, str, Any]],
    *,
    leader: str | None,
    leads_over: list[tuple[str, Any]],
    best: str | None,
    minimum: int,
) -> str:
    """The verdict on one emotion among three or more variants: `pairs` are (label a, label b,
    Decision) for every pair, `leader` the variant named ahead of every other (None if none is) and
    `leads_over` its (other variant's label, Decision) pairs, `best` the variant with the highest
    share so far."""
    decisions = [decision for _a, _b, decision in pairs]
    first = decisions[0]
    n = first.n
    if first.reason == "few_testers":
        return _final(first, _too_few(class_name, n, minimum, between=_("the variants")))
    values = {
        "emotion": emotion_name(class_name),
        "leader": leader,
        "best": best,
        "interval": _interval_name(first),
        "intervals": _interval_name(first, several=True),
        "margin": _signed(100 * first.margin),
        "n": n,
    }
    if leader is not None:
        values["leads"] = ", ".join(
            _("%(other)s by %(points)s points (%(span)s)")
            % {"other": other, "points": _signed(d.points), "span": _span(d)}
            for other, d in leads_over
        )
        sentence = ngettext(
            "%(leader)s leads on %(emotion)s over every other variant (%(intervals)s, %(n)s tester): %(leads)s.",
            "%(leader)s leads on %(emotion)s over every other variant (%(intervals)s, %(n)s testers): %(leads)s.",
            n,
        )
    elif any(d.leader is not None for d in decisions):
        values["leads"] = "; ".join(
            _("%(leader)s over %(other)s by %(points)s points (%(span)s)")
            % {
                "leader": _sides(d, label_a, label_b)[0],
                "other": _sides(d, label_a, label_b)[1],
                "points": _signed(d.points),
                "span": _span(d),
            }
            for label_a, label_b, d in pairs
            if d.leader is not None
        )
        sentence = ngettext(
            "No variant leads every other on %(emotion)s yet (%(intervals)s, %(n)s tester). Clear so far: %(leads)s.",
            "No variant leads every other on %(emotion)s yet (%(intervals)s, %(n)s testers). Clear so far: %(leads)s.",
            n,
        )
    elif all(d.verdict == "no_meaningful_difference" for d in decisions):
        sentence = ngettext(
            "No difference that matters on %(emotion)s between any two variants: every interval lies within "
            "±%(margin)s points (%(intervals)s, %(n)s tester).",
            "No difference that matters on %(emotion)s between any two variants: every interval lies within "
            "±%(margin)s points (%(intervals)s, %(n)s testers).",
            n,
        )
    elif all(d.verdict == "too_early" for d in decisions):
        sentence = ngettext(
            "Too early to say on %(emotion)s: %(best)s is ahead so far, but the intervals are still wide "
            "(%(intervals)s, %(n)s tester).",
            "Too early to say on %(emotion)s: %(best)s is ahead so far, but the intervals are still wide "
            "(%(intervals)s, %(n)s testers).",
            n,
        )
    else:
        sentence = ngettext(
            "Not decided yet on %(emotion)s: %(best)s is ahead so far, but no variant is clearly ahead of another "
            "(%(intervals)s, %(n)s tester). More testers will tell.",
            "Not decided yet on %(emotion)s: %(best)s is ahead so far, but no variant is clearly ahead of another "
            "(%(intervals)s, %(n)s testers). More testers will tell.",
            n,
        )
    return _final(first, sentence % values)


def plan_sentences(class_name: str, plan: Any, *, more: bool) -> list[str]:
    """How many counted testers (and invitations) it takes to detect `plan.difference` on this emotion,
    from decision.plan_testers; with `more`, how many beyond those counted so far."""
    values = {
        "detect": _decimal(f"{100 * plan.difference:g}"),
        "emotion": emotion_name(class_name),
        "power": _percent(plan.power),
        "live": plan.always_valid_testers,
        "fixed": plan.fixed_testers,
        "live_invitations": plan.always_valid_invitations,
        "fixed_invitations": plan.fixed_invitations,
        "more": plan.more_always_valid_testers,
        "more_invitations": plan.more_always_valid_invitations,
        "more_fixed": plan.more_fixed_testers,
        "more_fixed_invitations": plan.more_fixed_invitations,
    }
    sentences = [
        _(
            "To detect a difference of %(detect)s points in %(emotion)s with %(power)s %% power, the live verdict "
            "needs up to %(live)s counted testers; a single analysis at the end needs %(fixed)s."
        )
        % values
    ]
    if not more or plan.counted is None:
        sentence = _(
            "That takes about %(live_invitations)s invitations (%(fixed_invitations)s for the single analysis) at "
            "the counted rate below."
        )
    elif not plan.more_always_valid_testers:
        sentence = _("This campaign has counted that many testers already.")
    elif plan.more_fixed_testers:
        sentence = ngettext(
            "That is %(more)s more counted tester than now, about %(more_invitations)s more invitations (for the "
            "single analysis: %(more_fixed)s more, about %(more_fixed_invitations)s more invitations).",
            "That is %(more)s more counted testers than now, about %(more_invitations)s more invitations (for the "
            "single analysis: %(more_fixed)s more, about %(more_fixed_invitations)s more invitations).",
            plan.more_always_valid_testers,
        )
    else:
        sentence = ngettext(
            "That is %(more)s more counted tester than now, about %(more_invitations)s more invitations; the "
            "single analysis has enough already.",
            "That is %(more)s more counted testers than now, about %(more_invitations)s more invitations; the "
            "single analysis has enough already.",
            plan.more_always_valid_testers,
        )
    return [*sentences, sentence % values]


def plan_assumptions(class_name: str, plan: Any, *, minimum: int, invited: int | None, pairs: int = 1) -> list[str]:
    """What the planner assumed and what it observed, one sentence each."""
    values = {
        "emotion": emotion_name(class_name),
        "sd": _decimal(f"{plan.sd:.2f}"),
        "rate": _percent(plan.counted_rate),
        "minimum": minimum,
        "counted": plan.counted,
        "invited": invited,
        "power": _percent(plan.power),
        "alpha": _percent(plan.alpha),
    }
    if plan.sd_source == "observed":
        spread = ngettext(
            "Spread of the per-tester differences in %(emotion)s: SD %(sd)s, observed on %(counted)s tester.",
            "Spread of the per-tester differences in %(emotion)s: SD %(sd)s, observed on %(counted)s testers.",
            plan.counted or 0,
        )
    else:
        spread = _(
            "Spread of the per-tester differences in %(emotion)s: SD %(sd)s, assumed (typical of campaigns; "
            "this campaign's own replaces it once %(minimum)s testers are counted)."
        )
    if plan.rate_source == "observed":
        rate = _("Counted testers per invitation: %(rate)s %%, observed (%(counted)s counted of %(invited)s invited).")
    else:
        rate = _(
            "Counted testers per invitation: %(rate)s %%, assumed (this campaign's own replaces it once "
            "%(minimum)s invitations are out and a tester is counted)."
        )
    if pairs > 1:
        risk = _(
            "%(power)s %% power; at most %(alpha)s %% risk per pair of variants of naming a winner that is not one."
        )
    else:
        risk = _("%(power)s %% power; at most %(alpha)s %% risk of naming a winner that is not one.")
    return [spread % values, rate % values, risk % values]
