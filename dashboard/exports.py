"""CSV exports, streamed row by row from database cursors. No images, no e-mail addresses: testers
appear by their random pseudonymous id only."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import FilteredRelation, Q
from django.http import Http404, StreamingHttpResponse
from django.utils.text import slugify

from campaigns.models import Campaign, Variant
from dashboard.baseline import baseline_rows
from dashboard.counting import active_calibration
from dashboard.funnel import frame_outcomes
from dashboard.matrix import tester_matrix
from dashboard.norms import norm_rows
from dashboard.say_face import say_face_rows
from inference.selectors import get_model_for_campaign
from sessions.models import Frame, SurveyAnswer, Tester

CHUNK_SIZE = 2000


class _Echo:
    """csv.writer needs a file; this one hands each written line straight back."""

    def write(self, value: str) -> str:
        return value


def _safe(value: Any) -> Any:
    # A comment starting with =, +, - or @ would run as a formula when opened in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_safe(value) for value in row])


def frame_rows(*, campaign: Campaign, threshold: float) -> tuple[list[str], Iterator[tuple]]:
    model = get_model_for_campaign(campaign)
    class_names = list(model.class_names) if model else []
    header = ["tester", "variant", "sequence", "media_time_ms", "captured_at", "received_at", "outcome"]
    header += ["top_class", "top_probability", "confident", *[f"p_{name}" for name in class_names]]
    # Raw model output first (as before), then the calibrated values and the calibration they came from.
    header += ["calibration_version", "calibrated_top_class", "calibrated_top_probability"]
    frames = (
        Frame.objects.filter(campaign=campaign)
        .annotate(prediction=FilteredRelation("predictions", condition=Q(predictions__model_version=model)))
        .order_by("tester_id", "variant__position", "sequence")
        .values_list(
            "tester_id",
            "variant__label",
            "sequence",
            "media_time_ms",
            "captured_at",
            "received_at",
            "outcome",
            "prediction__top_class",
            "prediction__top_probability",
            "prediction__probabilities",
            "prediction__calibration_version",
            "prediction__calibrated_top_class",
            "prediction__calibrated_top_probability",
        )
    )

    def rows() -> Iterator[tuple]:
        for (
            *fields,
            top_class,
            top_probability,
            probabilities,
            version,
            calibrated_class,
            calibrated_top,
        ) in frames.iterator(chunk_size=CHUNK_SIZE):
            confident = "" if top_probability is None else int(top_probability >= threshold)
            scores = [(probabilities or {}).get(name, "") for name in class_names]
            raw = (top_class or "", "" if top_probability is None else top_probability, confident, *scores)
            yield (
                *fields,
                *raw,
                version or "",
                calibrated_class or "",
                "" if calibrated_top is None else calibrated_top,
            )

    return header, rows()


def tester_rows(*, campaign: Campaign, threshold: float) -> tuple[list[str], Iterator[tuple]]:
    """One row per (tester, variant) with the same numbers the dashboard's statistics use."""
    model = get_model_for_campaign(campaign)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    class_names = list(model.class_names) if model else []
    header = ["tester", "variant", "seen_at_position", "analysed_frames", "in_analysis"]
    header += [f"{kind}_{name}" for name in class_names for kind in ("count", "ratio")]
    if model is None:
        return header, iter(())
    matrix = tester_matrix(
        campaign=campaign,
        model=model,
        threshold=threshold,
        variants=variants,
        calibration=active_calibration(model),
    )
    _outcomes, senders = frame_outcomes(campaign)
    row_of = {tester_id: row for row, tester_id in enumerate(matrix.tester_ids)}
    orders = dict(Tester.objects.filter(campaign=campaign).values_list("id", "variant_order"))
    tester_ids = sorted(set(row_of) | senders, key=str)

    def rows() -> Iterator[tuple]:
        for tester_id in tester_ids:
            order = [str(variant_id) for variant_id in orders.get(tester_id) or []]
            row = row_of.get(tester_id)
            for v, variant in enumerate(variants):
                analysed = int(matrix.analysed[row, v]) if row is not None else 0
                counts = matrix.counts[row, v] if row is not None else [0] * len(class_names)
                position = order.index(str(variant.pk)) + 1 if str(variant.pk) in order else ""
                included = int(row is not None and bool(matrix.included[row]))
                numbers = [x for count in counts for x in (int(count), round(count / analysed, 6) if analysed else "")]
                yield (tester_id, variant.label, position, analysed, included, *numbers)

    return header, rows()


def survey_rows(*, campaign: Campaign, threshold: float) -> tuple[list[str], Iterator[tuple]]:
    header = ["tester", "variant", "question", "rating", "comment", "answered_at"]
    answers = (
        SurveyAnswer.objects.filter(question__campaign=campaign)
        .order_by("tester_id", "variant__position", "question__position")
        .values_list("tester_id", "variant__label", "question__text", "rating", "comment", "answered_at")
    )
    return header, answers.iterator(chunk_size=CHUNK_SIZE)


EXPORTS = {
    "frames": frame_rows,
    "testers": tester_rows,
    "survey": survey_rows,
    "baseline": baseline_rows,
    "say-face": say_face_rows,
    "norms": norm_rows,
}


def csv_response(*, campaign: Campaign, kind: str, threshold: float) -> StreamingHttpResponse:
    if kind not in EXPORTS:
        raise Http404("No such export.")
    header, rows = EXPORTS[kind](campaign=campaign, threshold=threshold)
    response = StreamingHttpResponse(_lines(header, rows), content_type="text/csv; charset=utf-8")
    filename = f"{slugify(campaign.name) or 'campaign'}-{kind}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
