"""The survey beside the emotion numbers: rating distributions and means per variant, comments,
and how a tester's rating goes with their own happy ratio.

Ratings and comments count from every tester who answered, whether or not their snapshots count for
the emotion numbers (too few analysed ones, camera denied): what someone said does not depend on how
well a camera saw their face. Withdrawn testers are deleted rows, so their answers are gone too. The
correlation needs a happy ratio, so it has only the testers the emotion numbers count.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from campaigns.models import Campaign, SurveyQuestion
from dashboard import stats
from dashboard.wording import comments_note
from sessions.models import SurveyAnswer

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix

MAX_COMMENTS_ON_PAGE = 200


def survey_summary(
    *,
    campaign: Campaign,
    matrix: TesterMatrix | None,
    ratios: np.ndarray,
    testers: Collection[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """`testers`: only theirs (an audience); everyone's when None."""
    questions = list(SurveyQuestion.objects.filter(campaign=campaign, kind=SurveyQuestion.Kind.SCALE))
    answers = SurveyAnswer.objects.filter(question__in=questions, rating__isnull=False)
    if testers is not None:
        answers = answers.filter(tester_id__in=list(testers))
    answers = answers.values_list("question_id", "variant_id", "tester_id", "rating")
    by_question: dict[int, list[tuple[uuid.UUID, uuid.UUID, int]]] = defaultdict(list)
    for question_id, variant_id, tester_id, rating in answers:
        by_question[question_id].append((variant_id, tester_id, rating))
    return {
        "questions": [_question_summary(question, by_question[question.pk], matrix, ratios) for question in questions],
        **_comments(campaign, testers),
    }


def _question_summary(
    question: SurveyQuestion,
    answers: list[tuple[uuid.UUID, uuid.UUID, int]],
    matrix: TesterMatrix | None,
    ratios: np.ndarray,
) -> dict[str, Any]:
    scale = np.arange(question.scale_min, question.scale_max + 1)
    variants = matrix.variants if matrix is not None else []
    # Compared as the ids' integers: a UUID compares in Python, an int does not.
    answer_variants = [variant_id.int for variant_id, _t, _r in answers]
    ratings = np.asarray([rating for _v, _t, rating in answers], dtype=float)
    per_variant = []
    for variant in variants:
        own = ratings[[variant_id == variant.pk.int for variant_id in answer_variants]] if ratings.size else ratings
        counts = (own[:, np.newaxis] == scale[np.newaxis, :]).sum(axis=0)
        per_variant.append(
            {
                "variant_id": str(variant.pk),
                "label": variant.label,
                **stats.t_interval(own, bounds=(question.scale_min, question.scale_max)).as_dict(),
                "distribution": [
                    {"rating": int(value), "count": int(count)} for value, count in zip(scale, counts, strict=True)
                ],
            }
        )
    return {
        "id": question.pk,
        "text": question.text,
        "scale_min": question.scale_min,
        "scale_max": question.scale_max,
        "min_label": question.min_label,
        "max_label": question.max_label,
        "variants": per_variant,
        "correlation": _rating_vs_happy(answers, matrix, ratios),
    }


def _rating_vs_happy(
    answers: list[tuple[uuid.UUID, uuid.UUID, int]], matrix: TesterMatrix | None, ratios: np.ndarray
) -> dict[str, Any]:
    """One point per (included tester, variant): their rating against their own happy ratio."""
    happy = matrix.class_index("happy") if matrix is not None else None
    if matrix is None or happy is None:
        return stats.correlation([], [])
    included_ids = [tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep]
    # Keyed by the ids' integers: a UUID hashes in Python, an int does not.
    row_of = {tester_id.int: row for row, tester_id in enumerate(included_ids)}
    column_of = {variant.pk.int: v for v, variant in enumerate(matrix.variants)}
    ratings, rows, columns = [], [], []
    for variant_id, tester_id, rating in answers:
        row, column = row_of.get(tester_id.int), column_of.get(variant_id.int)
        if row is not None and column is not None:
            ratings.append(rating)
            rows.append(row)
            columns.append(column)
    return stats.correlation(ratings, ratios[rows, columns, happy] if rows else [])


def _comments(campaign: Campaign, testers: Collection[uuid.UUID] | None) -> dict[str, Any]:
    comments = SurveyAnswer.objects.filter(question__campaign=campaign)
    if testers is not None:
        comments = comments.filter(tester_id__in=list(testers))
    comments = (
        comments.exclude(comment="")
        .order_by("-answered_at")
        .values_list("tester_id", "variant__label", "question__text", "comment", "answered_at")
    )
    total = comments.count()
    shown = comments[:MAX_COMMENTS_ON_PAGE]
    return {
        "comments_total": total,
        "comments_note": comments_note(min(total, MAX_COMMENTS_ON_PAGE), total),
        "comments": [
            {
                "tester": str(tester_id)[:8],
                "variant": variant_label,
                "question": question_text,
                "comment": comment,
                "answered_at": answered_at.isoformat(),
            }
            for tester_id, variant_label, question_text, comment, answered_at in shown
        ],
    }
