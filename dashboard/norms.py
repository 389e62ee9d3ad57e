"""The organisation's own benchmark: where each variant of this campaign stands among the variants of
the organisation's finished campaigns, on happy share and on mean rating.

Finished means closed. Only campaigns of the same organisation count, never another's, and never
demonstration data (Campaign.is_demo); the campaign itself is left out even once it is closed.
A percentile is shown from MIN_EARLIER_VARIANTS earlier variants on; below that, how many more are
needed. Percentile rank: the share of earlier variants below this one, ties counting half.

- Happy share: as the dashboard's ratios chart has it, the mean over counted testers of each
  tester's share of frames counted as happy (`counting.confident_as`: calibrated values where
  current, raw ones otherwise). Each finished campaign counts its testers by its own minimum of
  analysed snapshots, as its own dashboard did, but at this dashboard's threshold and on this
  campaign's model: shares at another threshold or from another model measure something else, so
  campaigns analysed with another model are left out of this benchmark (and said so).
- Mean rating: over every tester who answered the campaign's first rating-scale question (as the
  survey panel counts), compared as a position on its scale, (mean - min) / (max - min), so a 1-5
  and a 1-7 scale compare.

A fixed number of queries whatever the number of campaigns and variants: the finished variants and
their testers; the per-(campaign, tester, variant) cells of analysed and happy frames (testers' shares
need the per-tester counts; the rows are cells, not frames), counted as the dashboard's own matrix
counts them (`happy_cells`), for the finished campaigns whose shares are not in the cache yet
(`finished_happy_shares`); one GROUP BY (variant, question) over the survey answers.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.cache import cache
from django.db.models import Avg, Count, Q, Sum
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.models import Campaign, SurveyQuestion, Variant
from dashboard import counting
from dashboard.matrix import tester_matrix
from inference.models import CalibratedSum, Prediction
from inference.selectors import get_model_for_campaign
from sessions.models import Frame, SurveyAnswer, Tester

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix
    from inference.models import Calibration, ModelVersion

MIN_EARLIER_VARIANTS = 5
# A bound on how long a finished campaign's cached shares live, whatever else might change them.
FINISHED_SHARES_CACHE_SECONDS = 24 * 3600


def benchmark(
    *,
    campaign: Campaign,
    model: ModelVersion | None,
    calibration: Calibration | None,
    threshold: float,
    matrix: TesterMatrix | None,
    ratios: np.ndarray,
    testers: Collection[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """All as dashboard_data has them: `threshold` the one `matrix` and `ratios` (counted testers x
    variants x classes) were counted at, `model` the campaign's effective model, `calibration` its
    active calibration. At most three queries (a fourth for the variants without a matrix, and one
    for this campaign's ratings from `testers` alone, an audience, when given).

    Returns::

        {
          "minimum": 5,
          "threshold": float,
          "earlier_campaigns": int,        # finished campaigns of the organisation (this one aside)
          "other_model_campaigns": int,    # of those, analysed with another model: no happy share
          "notes": [str],                  # how the finished campaigns were counted
          "sentences": [str],              # the variants' sentences, each said once
          "variants": [{                   # this campaign's variants, in the dashboard's order
            "variant_id": str, "label": str,
            "happy_share": Figure,         # value: fraction 0..1
            "rating": Figure + {"scale_min": int | None, "scale_max": int | None},
          }],
        }

    Figure = {"value": float | None, "earlier": int (earlier variants with this figure),
    "needed": int (more finished variants needed, 0 once enough), "percentile": float | None (0..100),
    "median": float | None (the earlier variants' median, on this variant's scale for ratings),
    "sentence": str}; percentile and median are None below the minimum or without a value.
    """
    figures = earlier_figures(campaign=campaign, model=model, calibration=calibration, threshold=threshold)
    if testers is not None:
        figures["current_ratings"] = _mean_ratings([campaign.pk], testers=testers).get(campaign.pk, {})
    variants = matrix.variants if matrix is not None else list(Variant.objects.filter(campaign=campaign))
    happy = matrix.class_index("happy") if matrix is not None else None
    rows = []
    for v, variant in enumerate(variants):
        share = float(np.mean(ratios[:, v, happy])) if happy is not None and ratios.shape[0] else None
        happy_figure = _figure(share, figures["happy"])
        happy_figure["sentence"] = _happy_sentence(happy_figure, label=variant.label)
        rating, (scale_min, scale_max) = figures["current_ratings"].get(variant.pk, (None, (None, None)))
        rating_figure = _figure(_position(rating, (scale_min, scale_max)), figures["rating"])
        # Compared as positions on the scales; shown on this variant's own scale.
        rating_figure["value"] = rating
        if rating_figure["median"] is not None:
            rating_figure["median"] = scale_min + rating_figure["median"] * (scale_max - scale_min)
        rating_figure |= {"scale_min": scale_min, "scale_max": scale_max}
        rating_figure["sentence"] = _rating_sentence(rating_figure, label=variant.label)
        rows.append(
            {
                "variant_id": str(variant.pk),
                "label": variant.label,
                "happy_share": happy_figure,
                "rating": rating_figure,
            }
        )
    return {
        "minimum": MIN_EARLIER_VARIANTS,
        "threshold": threshold,
        "earlier_campaigns": figures["campaigns"],
        "other_model_campaigns": figures["other_model_campaigns"],
        "notes": _notes(figures, threshold),
        # "n more finished variants needed" is the same for every figure: said once.
        "sentences": list(dict.fromkeys(row[name]["sentence"] for row in rows for name in ("happy_share", "rating"))),
        "variants": rows,
    }


def earlier_figures(
    *, campaign: Campaign, model: ModelVersion | None, calibration: Calibration | None, threshold: float
) -> dict[str, Any]:
    """The finished variants' figures, in no particular order: "happy" (happy shares), "rating"
    (positions on their scales, 0..1); "campaigns", "other_model_campaigns"; and "current_ratings":
    this campaign's mean ratings per variant id, (mean, (scale_min, scale_max))."""
    finished = (
        Variant.objects.filter(
            campaign__organisation_id=campaign.organisation_id,
            campaign__status=Campaign.Status.CLOSED,
            campaign__is_demo=False,
        )
        .exclude(campaign_id=campaign.pk)
        .values_list("pk", "campaign_id", "campaign__model_version_id", "campaign__min_frames_per_tester")
    )
    variants_of: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    same_model, minimum_of = set(), {}
    for variant_id, campaign_id, model_id, minimum in finished:
        variants_of[campaign_id].append(variant_id)
        minimum_of[campaign_id] = max(1, minimum)
        # A campaign naming no model counts on the active one.
        if model is not None and (model_id == model.pk or (model_id is None and model.is_active)):
            same_model.add(campaign_id)
    happy: list[float] = []
    if same_model and "happy" in (model.class_names if model else []):
        happy = finished_happy_shares(
            campaign_ids=same_model,
            model=model,
            calibration=calibration,
            threshold=threshold,
            variants_of=variants_of,
            minimum_of=minimum_of,
        )
    ratings = _mean_ratings([*variants_of, campaign.pk])
    return {
        "happy": happy,
        "rating": [
            position
            for campaign_id, variant_ids in variants_of.items()
            for variant_id in variant_ids
            if (position := _position(*ratings.get(campaign_id, {}).get(variant_id, (None, None)))) is not None
        ],
        "campaigns": len(variants_of),
        "other_model_campaigns": len(variants_of) - len(same_model),
        "current_ratings": ratings.get(campaign.pk, {}),
    }


def finished_happy_shares(
    *,
    campaign_ids: set[uuid.UUID],
    model: ModelVersion,
    calibration: Calibration | None,
    threshold: float,
    variants_of: dict[uuid.UUID, list[uuid.UUID]],
    minimum_of: dict[uuid.UUID, int],
) -> list[float]:
    """The happy shares of the finished campaigns' variants (`_happy_shares`), each campaign's from
    the cache where it is there. A finished campaign's shares change only when a tester withdraws
    (their row goes), when frames still waited for analysis, or when its predictions are stale on
    the calibration; so the key holds the campaign's number of testers, the model, the calibration
    version and the threshold, and a campaign with frames waiting or stale predictions is counted
    but not kept. Counting them all again costs a GROUP BY over every finished campaign's
    predictions, which grows with the organisation's history."""
    version = calibration.version if calibration is not None else "raw"
    testers = dict(
        Tester.objects.filter(campaign_id__in=campaign_ids).values_list("campaign_id").annotate(n=Count("*")).order_by()
    )
    keys = {
        campaign_id: f"norms:happy:{campaign_id}:{model.pk}:{version}:{threshold!r}:{testers.get(campaign_id, 0)}"
        for campaign_id in campaign_ids
    }
    cached = cache.get_many(list(keys.values()))
    shares = {campaign_id: cached[key] for campaign_id, key in keys.items() if key in cached}
    missing = set(campaign_ids) - set(shares)
    if missing:
        cells, stale = happy_cells(campaign_ids=missing, model=model, calibration=calibration, threshold=threshold)
        counted = _happy_shares(cells, variants_of, minimum_of)
        waiting = set(
            Frame.objects.filter(campaign_id__in=missing, outcome=Frame.Outcome.PENDING)
            .values_list("campaign_id", flat=True)
            .distinct()
        )
        for campaign_id in missing:
            shares[campaign_id] = [counted[v] for v in variants_of[campaign_id] if v in counted]
        cache.set_many({keys[c]: shares[c] for c in missing - stale - waiting}, timeout=FINISHED_SHARES_CACHE_SECONDS)
    return [share for campaign_shares in shares.values() for share in campaign_shares]


def happy_cells(
    *, campaign_ids: set[uuid.UUID], model: ModelVersion, calibration: Calibration | None, threshold: float
) -> tuple[list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int, int]], set[uuid.UUID]]:
    """(campaign, tester, variant, analysed frames, frames counted as happy) per cell with any
    analysed frame, counting as `counting.confident_as` does. Where PostgreSQL keeps the calibrated
    sums and a calibration is active, as matrix.tester_matrix does on its fast path: the analysed
    and the stale frames from inference.CalibratedSum in one GROUP BY; for the campaigns without
    stale frames (the usual case) the happy frames from the range of the `prediction_confident`
    index at or above the threshold, a few per cent of their frames. The other campaigns (and every
    campaign without the sums or a calibration) in one GROUP BY over all their predictions. Two to
    three queries. Returns the cells, and the campaigns whose predictions may be partly stale on the
    calibration (their counts change as the recompute goes on)."""
    counted_slowly = set(campaign_ids)
    cells: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int, int]] = []
    if calibration is not None and counting.sums_available():
        sums = (
            CalibratedSum.objects.filter(campaign_id__in=campaign_ids, model_version=model, class_name="", frames__gt=0)
            .values_list("campaign_id", "tester_id", "variant_id")
            .annotate(analysed=Sum("frames"), stale=Sum("frames", filter=~Q(calibration_version=calibration.version)))
            .order_by()
        )
        analysed, counted_slowly = {}, set()
        for campaign_id, tester_id, variant_id, frames, stale_frames in sums:
            analysed[(campaign_id, tester_id, variant_id)] = frames
            if stale_frames:
                counted_slowly.add(campaign_id)
        current = set(campaign_ids) - counted_slowly
        confident = (
            Prediction.objects.filter(
                campaign_id__in=current,
                model_version=model,
                calibrated_top_probability__gte=threshold,
                calibrated_top_class="happy",
            )
            .values_list("campaign_id", "tester_id", "variant_id")
            .annotate(happy=Count("*"))
            .order_by()
        )
        happy_of = {(c, t, v): n for c, t, v, n in confident} if current else {}
        cells = [(*key, frames, happy_of.get(key, 0)) for key, frames in analysed.items() if key[0] in current]
    if counted_slowly:
        cells += list(
            Prediction.objects.filter(campaign_id__in=counted_slowly, model_version=model)
            .values_list("campaign_id", "tester_id", "variant_id")
            .annotate(
                analysed=Count("*"), happy=Count("pk", filter=counting.confident_as("happy", threshold, calibration))
            )
            .order_by()
        )
    # Without the sums, whether a campaign has stale predictions is not known: as if it had.
    return cells, (counted_slowly if calibration is not None else set())


def _happy_shares(
    cells: Any, variants_of: dict[uuid.UUID, list[uuid.UUID]], minimum_of: dict[uuid.UUID, int]
) -> dict[uuid.UUID, float]:
    """Per finished variant with a counted tester: the mean of the counted testers' happy shares. A
    tester counts with at least the campaign's minimum of analysed frames on every one of its
    variants (TesterMatrix.apply_minimum)."""
    by_tester: dict[tuple[uuid.UUID, uuid.UUID], dict[uuid.UUID, tuple[int, int]]] = defaultdict(dict)
    for campaign_id, tester_id, variant_id, analysed, happy in cells:
        by_tester[(campaign_id, tester_id)][variant_id] = (analysed, happy)
    shares: dict[uuid.UUID, list[float]] = defaultdict(list)
    for (campaign_id, _tester_id), counts in by_tester.items():
        variant_ids = variants_of[campaign_id]
        if all(counts.get(variant_id, (0, 0))[0] >= minimum_of[campaign_id] for variant_id in variant_ids):
            for variant_id in variant_ids:
                analysed, happy = counts[variant_id]
                shares[variant_id].append(happy / analysed)
    return {variant_id: float(np.mean(values)) for variant_id, values in shares.items()}


def _mean_ratings(
    campaign_ids: list[uuid.UUID], testers: Collection[uuid.UUID] | None = None
) -> dict[uuid.UUID, dict[uuid.UUID, tuple[float, tuple[int, int]]]]:
    """Per campaign and variant: the mean answer to the campaign's first rating-scale question (by
    position) among those answered (by `testers` only, when given), and that question's scale."""
    answers = SurveyAnswer.objects.filter(
        question__campaign_id__in=campaign_ids, question__kind=SurveyQuestion.Kind.SCALE, rating__isnull=False
    )
    if testers is not None:
        answers = answers.filter(tester_id__in=list(testers))
    rows = (
        answers.values_list(
            "question__campaign_id",
            "variant_id",
            "question__position",
            "question_id",
            "question__scale_min",
            "question__scale_max",
        )
        .annotate(mean=Avg("rating"))
        .order_by()
    )
    first: dict[uuid.UUID, tuple[int, int]] = {}
    means: dict[tuple[uuid.UUID, int], dict[uuid.UUID, tuple[float, tuple[int, int]]]] = defaultdict(dict)
    for campaign_id, variant_id, position, question_id, scale_min, scale_max, mean in rows:
        first[campaign_id] = min(first.get(campaign_id, (position, question_id)), (position, question_id))
        means[(campaign_id, question_id)][variant_id] = (float(mean), (scale_min, scale_max))
    return {campaign_id: means[(campaign_id, question_id)] for campaign_id, (_p, question_id) in first.items()}


def _position(mean: float | None, scale: tuple[int | None, int | None]) -> float | None:
    if mean is None or scale[0] is None or scale[1] is None or scale[1] <= scale[0]:
        return None
    return (mean - scale[0]) / (scale[1] - scale[0])


def percentile_rank(value: float, earlier: list[float]) -> float:
    """Share of `earlier` below `value`, ties counting half, in per cent."""
    array = np.asarray(earlier, dtype=float)
    return float(100 * ((array < value).sum() + 0.5 * (array == value).sum()) / array.size)


def _figure(value: float | None, earlier: list[float]) -> dict[str, Any]:
    """The numbers of a Figure; its median only with a value to set it beside."""
    needed = max(0, MIN_EARLIER_VARIANTS - len(earlier))
    shown = not needed and value is not None
    return {
        "value": value,
        "earlier": len(earlier),
        "needed": needed,
        "percentile": percentile_rank(value, earlier) if shown else None,
        "median": float(np.median(earlier)) if shown else None,
    }


# --- Words ---


def _decimal(number: str) -> str:
    """A number written with ".", in the active language's decimal mark ("0,8" in German)."""
    return number.replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def _whole_percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}"


def more_needed(needed: int) -> str:
    return ngettext(
        "The benchmark starts at %(minimum)s finished variants of your organisation: %(more)s more finished "
        "variant needed.",
        "The benchmark starts at %(minimum)s finished variants of your organisation: %(more)s more finished "
        "variants needed.",
        needed,
    ) % {"minimum": MIN_EARLIER_VARIANTS, "more": needed}


def _happy_sentence(figure: dict[str, Any], *, label: str) -> str:
    if figure["needed"]:
        return more_needed(figure["needed"])
    values = {"variant": label, "earlier": figure["earlier"]}
    if figure["value"] is None:
        return _("No happy share on %(variant)s yet to compare with your organisation's finished variants.") % values
    values |= {
        "value": _whole_percent(figure["value"]),
        "percentile": f"{figure['percentile']:.0f}",
        "median": _whole_percent(figure["median"]),
    }
    return (
        _(
            "%(variant)s has a happy share of %(value)s %%: percentile rank %(percentile)s among your organisation's "
            "%(earlier)s finished variants (median %(median)s %%)."
        )
        % values
    )


def _rating_sentence(figure: dict[str, Any], *, label: str) -> str:
    if figure["needed"]:
        return more_needed(figure["needed"])
    values = {"variant": label, "earlier": figure["earlier"]}
    rating = figure["value"]
    if rating is None:
        return _("No rating of %(variant)s yet to compare with your organisation's finished variants.") % values
    values |= {
        "value": _decimal(f"{rating:.1f}"),
        "min": figure["scale_min"],
        "max": figure["scale_max"],
        "percentile": f"{figure['percentile']:.0f}",
        "median": _decimal(f"{figure['median']:.1f}"),
    }
    return (
        _(
            "%(variant)s has a mean rating of %(value)s (scale %(min)s–%(max)s): percentile rank %(percentile)s "
            "among your organisation's %(earlier)s rated finished variants (median %(median)s)."
        )
        % values
    )


def _notes(figures: dict[str, Any], threshold: float) -> list[str]:
    notes = []
    if figures["happy"]:
        notes.append(
            _(
                "The finished campaigns' happy shares are counted at this dashboard's threshold of %(threshold)s, "
                "so they compare with these."
            )
            % {"threshold": _decimal(f"{threshold:g}")}
        )
    others = figures["other_model_campaigns"]
    if others:
        notes.append(
            ngettext(
                "%(n)s finished campaign was analysed with another model: its happy shares are left out, its "
                "ratings count.",
                "%(n)s finished campaigns were analysed with another model: their happy shares are left out, their "
                "ratings count.",
                others,
            )
            % {"n": others}
        )
    return notes


def norm_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
    """CSV (exports.EXPORTS style): one row per variant and figure ("happy_share": a fraction 0..1;
    "rating": the mean on its scale), with its percentile rank among the organisation's finished
    variants (empty below the minimum), how many there are, their median and how many more are needed.
    `testers`: this campaign's figures from theirs only (an audience)."""
    header = ["variant", "figure", "value", "percentile", "earlier_variants", "earlier_median", "more_needed"]
    model = get_model_for_campaign(campaign)
    calibration = counting.active_calibration(model)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    matrix = (
        tester_matrix(campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration)
        if model
        else None
    )
    if matrix is not None and testers is not None:
        matrix = matrix.only(testers)
    ratios = matrix.ratios() if matrix is not None else np.zeros((0, len(variants), 0))
    data = benchmark(
        campaign=campaign,
        model=model,
        calibration=calibration,
        threshold=threshold,
        matrix=matrix,
        ratios=ratios,
        testers=testers,
    )

    def rows() -> Iterator[tuple]:
        for row in data["variants"]:
            for name in ("happy_share", "rating"):
                figure = row[name]
                numbers = (figure["value"], figure["percentile"], figure["earlier"], figure["median"])
                yield (row["label"], name, *(_rounded(x) for x in numbers), figure["needed"])

    return header, rows()


def _rounded(value: float | int | None) -> float | int | None:
    return round(value, 6) if isinstance(value, float) else value
