"""Plain-words summaries of the statistics, in the researcher's language."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.dashboard.stats import PairedResult

# The FER2013 classes most models use; anything else is shown under its own name.
EMOTION_NAMES = {
    "angry": gettext_lazy("angry"),
    "disgust": gettext_lazy("disgust"),
    "fear": gettext_lazy("fear"),
    "happy": gettext_lazy("happy"),
    "sad": gettext_lazy("sad"),
    "surprise": gettext_lazy("surprise"),
    "neutral": gettext_lazy("neutral"),
}


def emotion_name(class_name: str) -> str:
    return str(EMOTION_NAMES.get(class_name, class_name))


def _points(fraction: float) -> str:
    # Ratios are fractions; researchers read them as percentage points.
    # Whole points where that is precise enough; one decimal for small differences ("0.8 points").
    points = fraction * 100
    return f"{points:.0f}" if abs(points) >= 10 else f"{points:.1f}"


def _p(p_value: float) -> str:
    return "< 0.001" if p_value < 0.001 else f"= {p_value:.3f}".rstrip("0").rstrip(".")


def paired_verdict(result: PairedResult, *, label_a: str, label_b: str, class_name: str) -> str:
    """One sentence: who leads, by how much, and how sure we are. Differences are b - a."""
    emotion = emotion_name(class_name)
    if result.n < 2 or result.mean_difference is None or result.low is None or result.p_value is None:
        return _("Not enough testers yet to compare %(a)s and %(b)s on %(emotion)s (%(n)s usable).") % {
            "a": label_a,
            "b": label_b,
            "emotion": emotion,
            "n": result.n,
        }
    if result.mean_difference == 0:
        return _("No difference on %(emotion)s between %(a)s and %(b)s.") % {
            "emotion": emotion,
            "a": label_a,
            "b": label_b,
        }
    b_leads = result.mean_difference > 0
    sign = 1 if b_leads else -1
    low, high = sorted((sign * result.low, sign * result.high))
    values = {
        "leader": label_b if b_leads else label_a,
        "other": label_a if b_leads else label_b,
        "emotion": emotion,
        "points": _points(abs(result.mean_difference)),
        "low": _points(low),
        "high": _points(high),
        "p": _p(result.p_value),
    }
    if result.is_clear:
        return (
            _(
                "%(leader)s leads on %(emotion)s by %(points)s points (95%% CI %(low)s to %(high)s); "
                "this difference is unlikely to be chance (p %(p)s)."
            )
            % values
        )
    return (
        _(
            "No clear difference on %(emotion)s: %(leader)s is ahead of %(other)s by %(points)s points "
            "(95%% CI %(low)s to %(high)s), which could well be chance (p %(p)s)."
        )
        % values
    )
