"""CSV exports, streamed row by row from database cursors. No images, no e-mail addresses: testers
appear by their random pseudonymous id only. An audience (dashboard.audiences) narrows the aggregate
exports; the per-tester ones (PER_TESTER) refuse it."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import FilteredRelation, Q
from django.http import Http404, StreamingHttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Variant
from config.errors import ApplicationError
from dashboard.audiences import Audience
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


def _of(testers: Collection[uuid.UUID] | None, field: str = "tester_id") -> dict[str, list[uuid.UUID]]:
    """A filter to `testers` (an audience), or none."""
    return {} if testers is None else {f"{field}__in": list(testers)}


def frame_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
    model = get_model_for_campaign(campaign)
    class_names = list(model.class_names) if model else []
    header = ["tester", "variant", "sequence", "media_time_ms", "captured_at", "received_at", "outcome"]
    header += ["top_class", "top_probability", "confident", *[f"p_{name}" for name in class_names]]
    # Raw model output first (as before), then the calibrated values and the calibration they came from.
    header += ["calibration_version", "calibrated_top_class", "calibrated_top_probability"]
    # Attention: how far the found face was turned (empty without a face), and whether that counts as
    # looking at the screen.
    header += ["head_turn_degrees", "looking_at_screen"]
    max_turn = settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"]
    frames = (
        Frame.objects.filter(campaign=campaign, **_of(testers))
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
            "head_turn_degrees",
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
            head_turn,
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
                "" if head_turn is None else round(head_turn, 1),
                _looking(fields[-1], head_turn, max_turn),
            )

    return header, rows()


def _looking(outcome: str, head_turn: float | None, max_turn: float) -> int | str:
    """1 for a face turned less than max_turn, 0 for one turned further or no face at all (as the
    dashboard's attention counts them, dashboard.moments.ATTENTION_KNOWN), empty where the snapshot
    says nothing about where the tester looked."""
    if head_turn is not None:
        return int(abs(head_turn) < max_turn)
    return 0 if outcome == Frame.Outcome.NO_FACE else ""


def tester_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
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
    if testers is not None:
        matrix = matrix.only(testers)
    _outcomes, senders = frame_outcomes(campaign, testers)
    row_of = {tester_id: row for row, tester_id in enumerate(matrix.tester_ids)}
    orders = dict(Tester.objects.filter(campaign=campaign, **_of(testers, "pk")).values_list("id", "variant_order"))
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


def survey_rows(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> tuple[list[str], Iterator[tuple]]:
    header = ["tester", "variant", "question", "rating", "comment", "answered_at"]
    answers = (
        SurveyAnswer.objects.filter(question__campaign=campaign, **_of(testers))
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


# The exports whose rows are per tester. They are never limited to an audience and carry no screener
# answers: rows of a known group, or answers beside each pseudonymous id, would let two exports be
# set against each other until one tester is left. Audiences narrow the aggregate exports.
PER_TESTER = {"frames", "testers", "survey", "baseline"}


def csv_response(
    *, campaign: Campaign, kind: str, threshold: float, audience: Audience | None = None
) -> StreamingHttpResponse:
    """`audience`: its testers only (the caller has refused one below the minimum)."""
    if kind not in EXPORTS:
        raise Http404("No such export.")
    if audience is not None and kind in PER_TESTER:
        raise ApplicationError(
            _("Exports of single testers cannot be limited to an audience: only the aggregate exports can."),
            extra={"fields": {"audience": [audience.value]}},
        )
    testers = audience.testers if audience is not None else None
    header, rows = EXPORTS[kind](campaign=campaign, threshold=threshold, testers=testers)
    response = StreamingHttpResponse(_lines(header, rows), content_type="text/csv; charset=utf-8")
    filename = f"{slugify(campaign.name) or 'campaign'}-{kind}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
