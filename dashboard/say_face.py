"""Say versus face: what testers said about each variant (the survey's rating-scale questions) beside
what their faces showed (their happy share), and whether the two go together.

Per variant, over counted testers: Spearman's rank correlation between a tester's rating and their
happy share (ranks, since ratings are ordinal and shares skewed): "on A, did those who rated it
higher smile more at it?". Across variants, per pair of variants (b - a, the paired comparisons'
direction), over counted testers: the rank correlation between a tester's rating difference and
their happy-share difference: "did the people who liked B more than A also smile more at B than at
A?". Differences, not ratings pooled over variants after centring each tester on their own mean:
- both take out each person's own level (one rates everything high, another smiles a lot), which
  otherwise decides most of a pooled correlation and says nothing about the advertisements;
- with two variants a tester's two centred points are mirror images (±half the difference), so
  pooling counts every tester twice and makes the interval about √2 too narrow; a difference is one
  independent point per tester, the unit of every other interval on the dashboard, so the Fisher z
  interval holds with n = testers. Every pair is reported, as the paired comparisons are.

Intervals: Fisher z with the Bonett–Wright standard error for Spearman, sqrt((1 + rho²/2) / (n - 3)),
from 4 testers on. The testers whose rating and face disagree most: per pair with at least
MIN_TESTERS_FOR_DISAGREEMENT testers, each tester's percentile rank of the rating difference and of
the happy-share difference among those testers; the gap between the two is their share in pulling the
rank correlation down. A tester's score is their largest gap over the pairs; the top
MAX_DISAGREEMENTS with a gap above 0 are listed by pseudonymous id (its first 8 characters, as the
dashboard's comments name testers). Below MIN_TESTERS_FOR_DISAGREEMENT counted testers nobody is
listed: in a tiny campaign one person would stand out.

Ratings come from every tester who answered (as the survey panel counts them); the correlations and
the list need a happy share, so they have only the testers the emotion numbers count.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from scipy import stats as scipy_stats

from campaigns.models import Campaign, SurveyQuestion, Variant
from dashboard import stats
from dashboard.counting import active_calibration
from dashboard.matrix import tester_matrix
from inference.selectors import get_model_for_campaign
from sessions.models import SurveyAnswer

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix

CONFIDENCE = 0.95
MIN_TESTERS_FOR_RHO = 4  # the Bonett–Wright standard error needs n - 3 > 0
MIN_TESTERS_FOR_DISAGREEMENT = 5
MAX_DISAGREEMENTS = 5
METHOD = "spearman; fisher z, bonett-wright se"
SHARE_BOUNDS = (0.0, 1.0)

# (question id, variant id, tester id, rating)
Answer = tuple[int, uuid.UUID, uuid.UUID, int]


def say_face_summary(
    *,
    campaign: Campaign,
    matrix: TesterMatrix | None,
    ratios: np.ndarray,
    testers: Collection[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Two queries (the scale questions, their answers); `matrix` and `ratios` as dashboard_data has
    them (ratios: counted testers x variants x classes, at the dashboard's threshold); `testers`:
    only their answers (an audience), everyone's when None.

    Returns::

        {
          "counted_testers": int,
          "minimum_for_list": 5,
          "note": str,                         # why there is nothing to show (no scale question), or ""
          "questions": [{                      # every rating-scale question, in survey order
            "id": int, "text": str, "scale_min": int, "scale_max": int,
            "variants": [{                     # in the dashboard's variant order
              "variant_id": str, "label": str,
              "rating": Interval,              # every tester who answered (as the survey panel)
              "rating_counted": Interval,      # counted testers who answered
              "happy_share": Interval,         # counted testers (as the ratios chart's tester mean)
              "agreement": Agreement,          # rating vs happy share over counted testers
            }],
            "pairs": [{                        # every pair of variants, differences b - a per tester
              "variant_a": str, "variant_b": str, "label_a": str, "label_b": str,
              "rating_difference": Interval, "happy_difference": Interval,
              "agreement": Agreement,
            }],
            "disagreements": [{                # at most 5, largest gap first; [] below 5 testers
              "tester": str,                   # first 8 characters of the pseudonymous id
              "gap": float,                    # 0..1, gap between the two percentile ranks
              "variant_a": str, "variant_b": str, "label_a": str, "label_b": str,
              "rating_difference": float,      # rating on b minus rating on a
              "happy_difference": float,       # happy share on b minus on a (fraction)
              "sentence": str,
            }],
            "ranked_testers": int,             # most counted testers who rated both variants of a pair
            "disagreements_note": str,         # why nobody is listed, or ""
          }],
        }

    Interval = {"n", "mean", "low", "high"} (stats.t_interval; None where undefined).
    Agreement = {"n": int, "rho": float | None, "low": float | None, "high": float | None,
    "confidence": 0.95, "method": str, "sentence": str}.
    """
    analysis = _analyse(campaign=campaign, matrix=matrix, ratios=ratios, testers=testers)
    return {
        "counted_testers": int(matrix.included.sum()) if matrix is not None else 0,
        "minimum_for_list": MIN_TESTERS_FOR_DISAGREEMENT,
        "note": "" if analysis else _("The survey has no rating-scale question: no rating to set beside the faces."),
        "questions": [_question_dict(question) for question in analysis],
    }


def spearman_agreement(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> dict[str, Any]:
    """Spearman's rho with a Fisher z interval on the Bonett–Wright standard error; without a
    sentence (the callers word it). None where undefined: under MIN_TESTERS_FOR_RHO points, or no
    spread in either column."""
    x_array = np.asarray(x, dtype=float)
    y_array = np.asarray(y, dtype=float)
    n = int(x_array.size)
    result: dict[str, Any] = {"n": n, "rho": None, "low": None, "high": None, "confidence": CONFIDENCE}
    if n < MIN_TESTERS_FOR_RHO or np.ptp(x_array) == 0 or np.ptp(y_array) == 0:
        return {**result, "method": METHOD}
    rho = float(scipy_stats.spearmanr(x_array, y_array).statistic)
    if abs(rho) >= 1:
        # Ranks in exactly the same (or reverse) order: z is infinite, the interval a point.
        low = high = math.copysign(1.0, rho)
    else:
        standard_error = math.sqrt((1 + rho**2 / 2) / (n - 3))
        quantile = float(scipy_stats.norm.ppf(0.5 + CONFIDENCE / 2))
        z = math.atanh(rho)
        low, high = math.tanh(z - quantile * standard_error), math.tanh(z + quantile * standard_error)
    return {**result, "rho": rho, "low": low, "high": high, "method": METHOD}


def say_face_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
    """CSV (exports.EXPORTS style): one row per scale question and variant ("variant": the counted
    testers who answered, their mean rating, the happy share of every counted tester as on the
    dashboard, the rank correlation), then one per question and pair of variants ("difference":
    means of the per-tester differences b - a and their rank correlation). No tester appears.
    `testers`: only theirs (an audience)."""
    header = ["question", "scope", "variant", "testers", "mean_rating", "mean_happy_share"]
    header += ["spearman_rho", "rho_low", "rho_high"]
    model = get_model_for_campaign(campaign)
    if model is None:
        return header, iter(())
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    matrix = tester_matrix(
        campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=active_calibration(model)
    )
    if testers is not None:
        matrix = matrix.only(testers)
    analysis = _analyse(campaign=campaign, matrix=matrix, ratios=matrix.ratios(), testers=testers)

    def figures(rating: dict, happy: dict, agreement: dict) -> tuple:
        rho = agreement["rho"], agreement["low"], agreement["high"]
        return (agreement["n"], _rounded(rating["mean"]), _rounded(happy["mean"]), *(_rounded(x) for x in rho))

    def rows() -> Iterator[tuple]:
        for question in analysis:
            for row in question["variants"]:
                scope = (question["text"], "variant", row["label"])
                yield (*scope, *figures(row["rating_counted"], row["happy_share"], row["agreement"]))
            for pair in question["pairs"]:
                scope = (question["text"], "difference", f"{pair['label_b']} - {pair['label_a']}")
                yield (*scope, *figures(pair["rating_difference"], pair["happy_difference"], pair["agreement"]))

    return header, rows()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _analyse(
    *,
    campaign: Campaign,
    matrix: TesterMatrix | None,
    ratios: np.ndarray,
    testers: Collection[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """The numbers of say_face_summary, per question, with the sentences still to be added; of
    `testers` only (an audience) when given."""
    questions = list(SurveyQuestion.objects.filter(campaign=campaign, kind=SurveyQuestion.Kind.SCALE))
    if not questions:
        return []
    rated = SurveyAnswer.objects.filter(question_id__in=[q.pk for q in questions], rating__isnull=False)
    if testers is not None:
        rated = rated.filter(tester_id__in=list(testers))
    answers: list[Answer] = list(rated.values_list("question_id", "variant_id", "tester_id", "rating"))
    variants = matrix.variants if matrix is not None else []
    happy = matrix.class_index("happy") if matrix is not None else None
    if matrix is None or happy is None:  # no happy share to set beside the ratings
        included_ids, shares = [], np.zeros((0, len(variants)))
    else:
        included_ids = [tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep]
        shares = ratios[:, :, happy]  # counted testers x variants, as the ratios chart has them
    return [_question(question, answers, variants, included_ids, shares) for question in questions]


def _question(
    question: SurveyQuestion,
    answers: list[Answer],
    variants: list[Variant],
    included_ids: list[uuid.UUID],
    shares: np.ndarray,
) -> dict[str, Any]:
    bounds = (question.scale_min, question.scale_max)
    # Keyed by the ids' integers: a UUID hashes and compares in Python, an int does not.
    row_of = {tester_id.int: row for row, tester_id in enumerate(included_ids)}
    column_of = {variant.pk.int: v for v, variant in enumerate(variants)}
    everyone: list[list[int]] = [[] for _variant in variants]
    counted = np.full((len(included_ids), len(variants)), np.nan)  # ratings of counted testers
    asked = question.pk
    for question_id, variant_id, tester_id, rating in answers:
        v = column_of.get(variant_id.int) if question_id == asked else None
        if v is None:
            continue
        everyone[v].append(rating)
        row = row_of.get(tester_id.int)
        if row is not None:
            counted[row, v] = rating
    per_variant = []
    for v, variant in enumerate(variants):
        answered = ~np.isnan(counted[:, v])
        per_variant.append(
            {
                "variant_id": str(variant.pk),
                "label": variant.label,
                "rating": stats.t_interval(everyone[v], bounds=bounds).as_dict(),
                "rating_counted": stats.t_interval(counted[answered, v], bounds=bounds).as_dict(),
                "happy_share": stats.t_interval(shares[:, v], bounds=SHARE_BOUNDS).as_dict(),
                "agreement": spearman_agreement(counted[answered, v], shares[answered, v]),
            }
        )
    pairs, gaps, ranked = [], {}, 0
    for (a, variant_a), (b, variant_b) in itertools.combinations(enumerate(variants), 2):
        both = ~np.isnan(counted[:, a]) & ~np.isnan(counted[:, b])
        rating_difference = counted[both, b] - counted[both, a]
        happy_difference = shares[both, b] - shares[both, a]
        names = {
            "variant_a": str(variant_a.pk),
            "variant_b": str(variant_b.pk),
            "label_a": variant_a.label,
            "label_b": variant_b.label,
        }
        pairs.append(
            {
                **names,
                "rating_difference": stats.t_interval(rating_difference).as_dict(),
                "happy_difference": stats.t_interval(happy_difference, bounds=(-1.0, 1.0)).as_dict(),
                "agreement": spearman_agreement(rating_difference, happy_difference),
            }
        )
        testers = [tester_id for tester_id, keep in zip(included_ids, both, strict=True) if keep]
        ranked = max(ranked, len(testers))
        for tester_id, gap, said, showed in _rank_gaps(testers, rating_difference, happy_difference):
            if gap > gaps.get(tester_id, {"gap": 0.0})["gap"]:
                gaps[tester_id] = {**names, "gap": gap, "rating_difference": said, "happy_difference": showed}
    listed = sorted(gaps.items(), key=lambda item: (-item[1]["gap"], str(item[0])))[:MAX_DISAGREEMENTS]
    return {
        "id": question.pk,
        "text": question.text,
        "scale_min": question.scale_min,
        "scale_max": question.scale_max,
        "variants": per_variant,
        "pairs": pairs,
        "disagreements": [{"tester": str(tester_id)[:8], **entry} for tester_id, entry in listed],
        "ranked_testers": ranked,
    }


def _rank_gaps(
    testers: list[uuid.UUID], said: np.ndarray, showed: np.ndarray
) -> Iterator[tuple[uuid.UUID, float, float, float]]:
    """(tester, gap between percentile ranks, rating difference, happy difference), only from
    MIN_TESTERS_FOR_DISAGREEMENT testers on."""
    n = len(testers)
    if n < MIN_TESTERS_FOR_DISAGREEMENT:
        return
    said_rank = (scipy_stats.rankdata(said) - 1) / (n - 1)
    showed_rank = (scipy_stats.rankdata(showed) - 1) / (n - 1)
    for tester_id, gap, rating, happy in zip(testers, np.abs(said_rank - showed_rank), said, showed, strict=True):
        yield tester_id, float(gap), float(rating), float(happy)


# --- Words ---


def _question_dict(question: dict[str, Any]) -> dict[str, Any]:
    for row in question["variants"]:
        row["agreement"]["sentence"] = variant_agreement_sentence(row["label"], row["agreement"])
    for pair in question["pairs"]:
        pair["agreement"]["sentence"] = pair_agreement_sentence(pair["label_a"], pair["label_b"], pair["agreement"])
    for entry in question["disagreements"]:
        entry["sentence"] = disagreement_sentence(entry)
    question["disagreements_note"] = disagreements_note(
        question["ranked_testers"], listed=bool(question["disagreements"])
    )
    return question


def _decimal(number: str) -> str:
    """A number written with "." and "-", in the active language's decimal mark, with a real minus."""
    return number.replace(".", formats.get_format("DECIMAL_SEPARATOR")).replace("-", "−")


def _rho(value: float) -> str:
    return _decimal(f"{value:.2f}")


def _signed_points(fraction: float) -> str:
    """A difference of shares in percentage points with its sign: "+20", "−4.5", "0"."""
    points = 100 * fraction
    text = f"{points:+.0f}" if abs(points) >= 10 else f"{points:+.1f}"
    return "0" if float(text) == 0 else _decimal(text)


def _signed_rating(difference: float) -> str:
    return _decimal(f"{difference:+g}" if difference else "0")


def _figures(agreement: dict[str, Any]) -> dict[str, Any]:
    return {
        "rho": _rho(agreement["rho"]),
        "low": _rho(agreement["low"]),
        "high": _rho(agreement["high"]),
        "confidence": _decimal(f"{100 * agreement['confidence']:g}"),
        "n": agreement["n"],
    }


def _too_few(agreement: dict[str, Any], subject: str) -> str:
    n = agreement["n"]
    if n < MIN_TESTERS_FOR_RHO:
        return ngettext(
            "Too few testers to relate %(subject)s yet: %(n)s counted tester answered; at least %(minimum)s are "
            "needed.",
            "Too few testers to relate %(subject)s yet: %(n)s counted testers answered; at least %(minimum)s are "
            "needed.",
            n,
        ) % {"subject": subject, "n": n, "minimum": MIN_TESTERS_FOR_RHO}
    return _("No spread to relate %(subject)s: every tester gave the same answer, or smiled equally.") % {
        "subject": subject
    }


def variant_agreement_sentence(label: str, agreement: dict[str, Any]) -> str:
    """E.g. "On A, testers who rated it higher also smiled more: Spearman ρ 0.62 (95 % interval 0.21 to
    0.85, 14 testers)."."""
    if agreement["rho"] is None:
        return _too_few(agreement, _("rating and smiling on %(variant)s") % {"variant": label})
    values = {"variant": label, **_figures(agreement)}
    if agreement["low"] > 0:
        sentence = ngettext(
            "On %(variant)s, testers who rated it higher also smiled more: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s tester).",
            "On %(variant)s, testers who rated it higher also smiled more: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s testers).",
            agreement["n"],
        )
    elif agreement["high"] < 0:
        sentence = ngettext(
            "On %(variant)s, testers who rated it higher smiled less: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s tester).",
            "On %(variant)s, testers who rated it higher smiled less: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s testers).",
            agreement["n"],
        )
    else:
        sentence = ngettext(
            "On %(variant)s, no clear link between rating and smiling: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s tester).",
            "On %(variant)s, no clear link between rating and smiling: Spearman ρ %(rho)s (%(confidence)s %% "
            "interval %(low)s to %(high)s, %(n)s testers).",
            agreement["n"],
        )
    return sentence % values


def pair_agreement_sentence(label_a: str, label_b: str, agreement: dict[str, Any]) -> str:
    """E.g. "Testers who liked B more than A also smiled more at B than at A: Spearman ρ 0.71 (...)"."""
    names = {"a": label_a, "b": label_b}
    if agreement["rho"] is None:
        return _too_few(agreement, _("preferring %(b)s to %(a)s and smiling more at it") % names)
    values = {**names, **_figures(agreement)}
    if agreement["low"] > 0:
        sentence = ngettext(
            "Testers who liked %(b)s more than %(a)s also smiled more at %(b)s than at %(a)s: Spearman ρ %(rho)s "
            "(%(confidence)s %% interval %(low)s to %(high)s, %(n)s tester).",
            "Testers who liked %(b)s more than %(a)s also smiled more at %(b)s than at %(a)s: Spearman ρ %(rho)s "
            "(%(confidence)s %% interval %(low)s to %(high)s, %(n)s testers).",
            agreement["n"],
        )
    elif agreement["high"] < 0:
        sentence = ngettext(
            "Testers who liked %(b)s more than %(a)s smiled less at %(b)s than at %(a)s: what they said and what "
            "their faces showed point apart. Spearman ρ %(rho)s (%(confidence)s %% interval %(low)s to %(high)s, "
            "%(n)s tester).",
            "Testers who liked %(b)s more than %(a)s smiled less at %(b)s than at %(a)s: what they said and what "
            "their faces showed point apart. Spearman ρ %(rho)s (%(confidence)s %% interval %(low)s to %(high)s, "
            "%(n)s testers).",
            agreement["n"],
        )
    else:
        sentence = ngettext(
            "No clear link between liking %(b)s more than %(a)s and smiling more at it: Spearman ρ %(rho)s "
            "(%(confidence)s %% interval %(low)s to %(high)s, %(n)s tester).",
            "No clear link between liking %(b)s more than %(a)s and smiling more at it: Spearman ρ %(rho)s "
            "(%(confidence)s %% interval %(low)s to %(high)s, %(n)s testers).",
            agreement["n"],
        )
    return sentence % values


def disagreement_sentence(entry: dict[str, Any]) -> str:
    """E.g. "Tester 3f2a9c1d rated B +3 against A; happy share on B −20 points against A."."""
    return _(
        "Tester %(tester)s rated %(b)s %(rating)s against %(a)s; happy share on %(b)s %(points)s points against %(a)s."
    ) % {
        "tester": entry["tester"],
        "a": entry["label_a"],
        "b": entry["label_b"],
        "rating": _signed_rating(entry["rating_difference"]),
        "points": _signed_points(entry["happy_difference"]),
    }


def disagreements_note(ranked: int, *, listed: bool) -> str:
    """Why no tester is named. `ranked`: the most counted testers who rated both variants of a pair."""
    if ranked < MIN_TESTERS_FOR_DISAGREEMENT:
        return ngettext(
            "The testers whose rating and face disagree most are named once %(minimum)s counted testers have rated "
            "the variants, so that nobody stands out; %(ranked)s has so far.",
            "The testers whose rating and face disagree most are named once %(minimum)s counted testers have rated "
            "the variants, so that nobody stands out; %(ranked)s have so far.",
            ranked,
        ) % {"minimum": MIN_TESTERS_FOR_DISAGREEMENT, "ranked": ranked}
    if not listed:
        return _("Every counted tester's rating and face rank alike: no disagreement to show.")
    return ""
