"""Plain-words summaries of the statistics, in the researcher's language."""

from __future__ import annotations

import math
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from dashboard.stats import PairedResult

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


# ml.quantification's estimators, as the dashboard names them in "Estimator: ...".
ESTIMATOR_NAMES = {
    "regularised_probabilistic_adjusted_classify_and_count": gettext_lazy(
        "regularised probabilistic adjusted classify-and-count (mean calibrated probabilities corrected for the "
        "model's confusions on the labelled faces, with a weak prior of equal shares)"
    ),
    "probabilistic_adjusted_classify_and_count": gettext_lazy(
        "probabilistic adjusted classify-and-count (mean calibrated probabilities corrected for the model's "
        "confusions on the labelled faces)"
    ),
}


def emotion_name(class_name: str) -> str:
    return str(EMOTION_NAMES.get(class_name, class_name))


def _decimal(number: str) -> str:
    """A number written with ".", in the active language's decimal mark ("0,8" in German)."""
    return number.replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def _points(fraction: float) -> str:
    # Ratios are fractions; researchers read them as percentage points.
    # Whole points where that is precise enough; one decimal for small differences ("0.8 points").
    points = fraction * 100
    return _decimal(f"{points:.0f}" if abs(points) >= 10 else f"{points:.1f}")


def _p(p_value: float) -> str:
    return _decimal("< 0.001" if p_value < 0.001 else f"= {p_value:.3f}".rstrip("0").rstrip("."))


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
        # Level among a few testers says nothing about whether the variants differ.
        return ngettext(
            "No clear difference on %(emotion)s: %(a)s and %(b)s are level among these %(n)s tester.",
            "No clear difference on %(emotion)s: %(a)s and %(b)s are level among these %(n)s testers.",
            result.n,
        ) % {"emotion": emotion, "a": label_a, "b": label_b, "n": result.n}
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


def _one_in(share: float) -> str:
    """0.11 -> "about 1 in 9", 0.75 -> "about 3 in 4": the rule of the study's report
    (ml.real_faces_report.describe_threshold_figures), translated."""
    if share <= 0:
        return _("none of the")
    if share >= 0.975:
        return _("nearly all")
    if share < 0.2:
        return _("about 1 in %(denominator)s") % {"denominator": round(1 / share)}
    # Halves, thirds, quarters, fifths, tenths read easily: the simplest within 0.03, else the closest.
    fractions = [(numerator, denominator) for denominator in (2, 3, 4, 5, 10) for numerator in range(1, denominator)]
    close = [pair for pair in fractions if abs(pair[0] / pair[1] - share) <= 0.03]
    numerator, denominator = min(
        close or fractions, key=lambda pair: (pair[1] if close else 0, abs(pair[0] / pair[1] - share))
    )
    return _("about %(numerator)s in %(denominator)s") % {"numerator": numerator, "denominator": denominator}


def counting_quality_sentence(class_name: str, figures: dict, threshold: float) -> str:
    """E.g. "At 0.8, this model counts about 1 in 9 sad faces; about 3 in 4 frames it counts as sad
    are sad." Figures as emotion_math.counting.threshold_figures gives them."""
    values = {"threshold": _decimal(f"{threshold:g}"), "emotion": emotion_name(class_name)}
    if figures["recall"] is None:
        return _("At %(threshold)s, no %(emotion)s faces were measured for this model.") % values
    values["recall"] = _one_in(figures["recall"])
    if figures["precision"] is None:
        return (
            _("At %(threshold)s, this model counts %(recall)s %(emotion)s faces; it counted no face as %(emotion)s.")
            % values
        )
    values["precision"] = _one_in(figures["precision"])
    sentence = (
        _(
            "At %(threshold)s, this model counts %(recall)s %(emotion)s faces; "
            "%(precision)s frames it counts as %(emotion)s are %(emotion)s."
        )
        % values
    )
    if not figures["enough_counted"]:
        counted = figures["counted"]
        sentence += " " + ngettext(
            "(From only %(counted)s counted face.)", "(From only %(counted)s counted faces.)", counted
        ) % {"counted": counted}
    return sentence


def share_verdict(row: dict) -> str:
    """One sentence on the paired difference of estimated shares (b - a), as paired_verdict does for ratios."""
    b_leads = row["difference"] > 0
    sign = 1 if b_leads else -1
    low, high = sorted((sign * row["low"], sign * row["high"]))
    values = {
        "leader": row["label_b"] if b_leads else row["label_a"],
        "other": row["label_a"] if b_leads else row["label_b"],
        "emotion": emotion_name(row["class_name"]),
        "points": _points(abs(row["difference"])),
        "low": _points(low),
        "high": _points(high),
    }
    if row["n"] < 2:
        return _("Not enough testers yet to compare estimated shares of %(emotion)s.") % values
    if row["clear"]:
        return (
            _(
                "%(leader)s shows more %(emotion)s: its estimated share is %(points)s points higher "
                "(95%% interval %(low)s to %(high)s)."
            )
            % values
        )
    return (
        _(
            "No clear difference in the estimated share of %(emotion)s: %(leader)s is ahead of %(other)s by "
            "%(points)s points (95%% interval %(low)s to %(high)s)."
        )
        % values
    )


def second_opinion_sentence(class_name: str, row: dict, model_name: str) -> str:
    """One plain sentence: does the leader on this emotion stay ahead under the second model?"""
    values = {
        "emotion": emotion_name(class_name),
        "primary": row["primary_leader"],
        "second": row["second_leader"],
        "model": model_name,
    }
    if row["flipped"]:
        return (
            _("Flipped: on %(emotion)s, %(primary)s leads under the main model but %(second)s leads under %(model)s.")
            % values
        )
    if row["primary_leader"] is None or row["second_leader"] is None:
        return _("On %(emotion)s, at least one model sees no leading variant yet.") % values
    return _("On %(emotion)s, %(primary)s leads under both models (second opinion: %(model)s).") % values


def estimator_description(estimator: str, grouping: str, class_count: int) -> str:
    """Which estimator and grouping the estimated shares come from, e.g. "regularised probabilistic
    adjusted classify-and-count (...), each of the model's 7 emotions on its own"."""
    name = str(ESTIMATOR_NAMES.get(estimator, estimator))
    if grouping == "emotions":
        return _("%(estimator)s, each of the model's %(count)s emotions on its own") % {
            "estimator": name,
            "count": class_count,
        }
    # Merged groups (ml.quantification.GROUPINGS): what is not named is shown as "other".
    return _("%(estimator)s, over the groups %(grouping)s (the remaining emotions together as other)") % {
        "estimator": name,
        "grouping": grouping.replace("_", ", "),
    }


def tester_counting_sentences(
    *, counted: int, not_counted: dict[str, int], survey_only: int, minimum: int
) -> dict[str, Any]:
    """Who the emotion numbers count, e.g. "2 testers are counted. 1 tester is not counted yet: fewer
    than 3 analysed snapshots on an advertisement.", one line per reason (testers.REASONS), and the
    testers without a camera, who count for the survey only."""
    sentences = [
        ngettext("%(count)s tester is counted.", "%(count)s testers are counted.", counted) % {"count": counted}
    ]
    waiting = sum(not_counted.values())
    if waiting:
        sentences.append(
            _("%(who)s: %(rule)s.")
            % {
                "who": ngettext("%(count)s tester is not counted yet", "%(count)s testers are not counted yet", waiting)
                % {"count": waiting},
                "rule": ngettext(
                    "fewer than %(minimum)s analysed snapshot on an advertisement",
                    "fewer than %(minimum)s analysed snapshots on an advertisement",
                    minimum,
                )
                % {"minimum": minimum},
            }
        )
    survey_only_note = (
        ngettext(
            "%(count)s tester took part without a camera: survey answers only.",
            "%(count)s testers took part without a camera: survey answers only.",
            survey_only,
        )
        % {"count": survey_only}
        if survey_only
        else ""
    )
    return {
        "summary": " ".join(sentences),
        "survey_only_note": survey_only_note,
        "reasons": [
            {"reason": reason, "count": count, "text": _reason_line(reason, count)}
            for reason, count in not_counted.items()
            if count
        ],
    }


def _reason_line(reason: str, count: int) -> str:
    lines = {
        "watching": ngettext(
            "%(count)s tester has not finished watching the advertisements yet.",
            "%(count)s testers have not finished watching the advertisements yet.",
            count,
        ),
        "pending": ngettext(
            "%(count)s tester has snapshots still waiting for analysis.",
            "%(count)s testers have snapshots still waiting for analysis.",
            count,
        ),
        "rejected": ngettext(
            "For %(count)s tester, the face was not found or the snapshots were not usable "
            "(too dark, too bright, blurred, face too small).",
            "For %(count)s testers, the face was not found or the snapshots were not usable "
            "(too dark, too bright, blurred, face too small).",
            count,
        ),
        "missing": ngettext(
            "For %(count)s tester, fewer snapshots arrived than needed.",
            "For %(count)s testers, fewer snapshots arrived than needed.",
            count,
        ),
    }
    return lines[reason] % {"count": count}


def calibration_label(*, version: str, method: str, faces: int, source: str = "") -> str:
    if source:
        return ngettext(
            "Counting on calibrated probabilities: calibration %(version)s (%(method)s, fitted on %(source)s, "
            "%(faces)s face)",
            "Counting on calibrated probabilities: calibration %(version)s (%(method)s, fitted on %(source)s, "
            "%(faces)s faces)",
            faces,
        ) % {
            "version": version,
            "method": method,
            "source": source,
            "faces": formats.number_format(faces, force_grouping=True),
        }
    return ngettext(
        "Counting on calibrated probabilities: calibration %(version)s (%(method)s, %(faces)s face)",
        "Counting on calibrated probabilities: calibration %(version)s (%(method)s, %(faces)s faces)",
        faces,
    ) % {"version": version, "method": method, "faces": formats.number_format(faces, force_grouping=True)}


def stale_note(frames: int) -> str:
    """Frames counted on raw probabilities until the recompute reaches them."""
    if not frames:
        return ""
    return ngettext(
        "%(frames)s frame was not yet computed with this calibration and is counted on raw probabilities "
        "meanwhile; it is being recomputed.",
        "%(frames)s frames were not yet computed with this calibration and are counted on raw probabilities "
        "meanwhile; they are being recomputed.",
        frames,
    ) % {"frames": frames}


def estimator_note(estimator: str, testers: int) -> str:
    return ngettext(
        "Estimator: %(estimator)s, %(testers)s tester.", "Estimator: %(estimator)s, %(testers)s testers.", testers
    ) % {"estimator": estimator, "testers": testers}


def comments_note(shown: int, total: int) -> str:
    if total <= shown:
        return ""
    return ngettext(
        "Showing the latest %(shown)s of %(total)s comment; the survey export has all.",
        "Showing the latest %(shown)s of %(total)s comments; the survey export has all.",
        total,
    ) % {"shown": shown, "total": total}


def backlog_note(backlog: dict[str, Any]) -> str:
    """Said when the analysis falls behind: the uploads are safe, the numbers are late."""
    if not backlog["behind"]:
        return ""
    minutes = max(1, math.ceil(backlog["oldest_pending_age_seconds"] / 60))
    return ngettext(
        "The analysis is %(minutes)s minute behind (snapshots waiting: %(frames)s). Nothing is lost: "
        "these figures catch up as the workers do.",
        "The analysis is %(minutes)s minutes behind (snapshots waiting: %(frames)s). Nothing is lost: "
        "these figures catch up as the workers do.",
        minutes,
    ) % {"minutes": minutes, "frames": backlog["pending_frames"]}
