"""Audiences: the testers who gave one answer to one of the campaign's screener questions.

`?audience=<screener question id>:<choice>` on the dashboard page, its API and the exports restricts
every figure to those testers (dashboard_data and exports.py hand `Audience.testers` to each
panel); `?split=<screener question id>` shows the main per-variant figures (ratios, estimated
shares, verdict) once per choice of that question, within the audience if one is chosen too.

A group with fewer testers than settings.MIMIK["MIN_AUDIENCE_TESTERS"] is never shown: a filter
to one is refused with TooFewTesters (403, the one error shape), and a group of a split carries the
same error in place of its figures. A tester belongs to a group by their answer, whether or not
their snapshots count for the emotion numbers, so the size of a group never depends on the
threshold or on how well the camera saw anyone.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status

from campaigns.models import Campaign, ScreenerQuestion
from campaigns.selectors import screener_questions
from config.errors import ApplicationError, error_body
from sessions.models import ScreenerAnswer

if TYPE_CHECKING:
    from dashboard.matrix import TesterMatrix
    from inference.models import Calibration

AUDIENCE = "audience"  # query parameter: "<screener question id>:<choice>"
SPLIT = "split"  # query parameter: "<screener question id>"
TOO_FEW_TESTERS = "too_few_testers"


def minimum_testers() -> int:
    return max(1, int(settings.MIMIK["MIN_AUDIENCE_TESTERS"]))


class TooFewTesters(ApplicationError):
    """A group of testers too small to show without anyone in it being identifiable, or so large
    that the few testers outside it would be: the whole campaign's figures minus the group's are
    theirs."""

    def __init__(self, *, outside: bool = False) -> None:
        minimum = minimum_testers()
        super().__init__(
            too_few_outside_message(minimum) if outside else too_few_message(minimum),
            extra={"reason": TOO_FEW_TESTERS, "minimum": minimum},
            status_code=status.HTTP_403_FORBIDDEN,
        )


def too_few_message(minimum: int) -> str:
    return _(
        "Too few testers in this group to show: a group needs at least %(minimum)s testers, so that no one in it "
        "can be picked out."
    ) % {"minimum": minimum}


def too_few_outside_message(minimum: int) -> str:
    return _(
        "Too few testers outside this group to show it: the whole campaign's figures minus this group's would be "
        "theirs, and they need at least %(minimum)s testers too, so that no one can be picked out."
    ) % {"minimum": minimum}


def refusal(*, group: int, population: int) -> TooFewTesters | None:
    """Why a group of `group` testers out of `population` may not be shown, if it may not."""
    minimum = minimum_testers()
    if group < minimum:
        return TooFewTesters()
    if 0 < population - group < minimum:
        return TooFewTesters(outside=True)
    return None


def may_show(*, group: int, population: int) -> bool:
    """Whether a figure of `group` testers may be shown beside the same figure of `population`
    testers (everyone, the group included)."""
    minimum = minimum_testers()
    return group >= minimum and not 0 < population - group < minimum


def answered(question: ScreenerQuestion) -> int:
    """The testers who answered `question`: whoever a figure of one of its groups can be set against
    (testers who left before the screener have no figures)."""
    return ScreenerAnswer.objects.filter(question=question).count()


def counted_refusal(*, group: TesterMatrix, population: TesterMatrix) -> TooFewTesters | None:
    """The smallest-group rule on the testers the emotion figures count (enough analysed snapshots
    of every variant), which a group of answers may hold fewer of."""
    return refusal(group=int(group.included.sum()), population=int(population.included.sum()))


@dataclass(frozen=True)
class Audience:
    question: ScreenerQuestion
    choice: str
    testers: frozenset[uuid.UUID]

    @property
    def value(self) -> str:
        """As `?audience=` takes it."""
        return f"{self.question.pk}:{self.choice}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "question": self.question.pk,
            "question_text": self.question.text,
            "choice": self.choice,
            "testers": len(self.testers),
        }


def screener_summary(campaign: Campaign) -> list[dict[str, Any]]:
    """The questions an audience or a split can be chosen from, with each choice's `?audience=` value."""
    return [
        {
            "id": question.pk,
            "kind": question.kind,
            "text": question.text,
            "choices": [{"choice": choice, "audience": f"{question.pk}:{choice}"} for choice in question.choices],
        }
        for question in screener_questions(campaign=campaign)
    ]


def _question(campaign: Campaign, raw: str) -> ScreenerQuestion | None:
    try:
        question_id = int(raw)
    except ValueError:
        return None
    if not 0 < question_id < 2**63:  # beyond a bigint, PostgreSQL would refuse the comparison
        return None
    return ScreenerQuestion.objects.filter(campaign=campaign, pk=question_id).first()


def group_testers(question: ScreenerQuestion, choice: str) -> frozenset[uuid.UUID]:
    return frozenset(
        ScreenerAnswer.objects.filter(question=question, choice=choice).values_list("tester_id", flat=True)
    )


def audience_from_query(*, campaign: Campaign, query: Mapping[str, str]) -> Audience | None:
    """`?audience=`: None when absent or empty; 400 for a question or choice the campaign does not
    have; TooFewTesters for a group below the minimum."""
    raw = query.get(AUDIENCE) or ""
    if not raw:
        return None
    question_id, _colon, choice = raw.partition(":")
    question = _question(campaign, question_id)
    if question is None or choice not in question.choices:
        raise ApplicationError(
            _("This audience is not one of the campaign's screener questions and choices."),
            extra={"fields": {AUDIENCE: [raw]}},
        )
    testers = group_testers(question, choice)
    refused = refusal(group=len(testers), population=answered(question))
    if refused is not None:
        raise refused
    return Audience(question, choice, testers)


def split_from_query(*, campaign: Campaign, query: Mapping[str, str]) -> ScreenerQuestion | None:
    """`?split=`: None when absent or empty; 400 for a question the campaign does not have."""
    raw = query.get(SPLIT) or ""
    if not raw:
        return None
    question = _question(campaign, raw)
    if question is None:
        raise ApplicationError(
            _("The split is not one of the campaign's screener questions."), extra={"fields": {SPLIT: [raw]}}
        )
    return question


def only(testers: Iterable[Any], audience: Audience | None) -> list[Any]:
    """The rows (with an `id`) of the audience's testers; all of them without an audience."""
    if audience is None:
        return list(testers)
    return [tester for tester in testers if tester.id in audience.testers]


def audience_progress(testers: Iterable[Any]) -> dict[str, int]:
    """Progress within an audience: only testers who answered the screener belong to one, so each
    of them was invited, opened the link and consented; withdrawn testers' answers are deleted."""
    testers = list(testers)
    return {
        "invited": len(testers),
        "opened": len(testers),
        "withdrawn": 0,
        "consented": sum(1 for tester in testers if tester.consented),
        "completed": sum(1 for tester in testers if tester.completed),
    }


def audience_page(*, campaign: Campaign, query: Mapping[str, str]) -> dict[str, Any]:
    """The dashboard page's audience and split controls, and the refusal that stands in place of
    every figure when the chosen group is too small (or not one of the campaign's): the page then
    loads no numbers at all. `audience_status` is the page's HTTP status."""
    try:
        audience = audience_from_query(campaign=campaign, query=query)
        split_from_query(campaign=campaign, query=query)
    except ApplicationError as error:
        audience, refused, status_code = None, error.message, error.status_code
    else:
        refused, status_code = "", status.HTTP_200_OK
    return {
        "screener": screener_summary(campaign),
        "audience": audience,
        "audience_value": query.get(AUDIENCE, ""),
        "split_value": query.get(SPLIT, ""),
        "audience_refusal": refused,
        "audience_status": status_code,
        "minimum_audience": minimum_testers(),
    }


# --- Split ------------------------------------------------------------------------------------


def split_summary(
    *,
    campaign: Campaign,
    question: ScreenerQuestion,
    audience: Audience | None,
    matrix: TesterMatrix | None,
    calibration: Calibration | None,
    threshold: float,
    detect: float,
) -> dict[str, Any]:
    """Per choice of `question` (within `audience`): its testers' per-variant ratios, estimated
    shares and verdict, from the dashboard's own matrix restricted to them; a group below the
    minimum carries the refusal (the one error shape) and no figure, not even its size."""
    from dashboard import calibrated
    from dashboard.comparisons import variant_rows
    from dashboard.verdicts import decision_summary

    by_choice: dict[str, set[uuid.UUID]] = defaultdict(set)
    for choice, tester_id in ScreenerAnswer.objects.filter(question=question).values_list("choice", "tester_id"):
        if audience is None or tester_id in audience.testers:
            by_choice[choice].add(tester_id)
    population = sum(len(testers) for testers in by_choice.values())
    groups = []
    for choice in question.choices:
        testers = frozenset(by_choice.get(choice, ()))
        group: dict[str, Any] = {"choice": choice, "audience": f"{question.pk}:{choice}"}
        refused = refusal(group=len(testers), population=population)
        if refused is None and audience is not None:
            # The choice's own audience, shown alone, less this group would be the testers of that
            # choice outside `audience`.
            refused = refusal(group=len(testers), population=len(group_testers(question, choice)))
        if refused is None and matrix is not None:
            refused = counted_refusal(group=matrix.only(testers), population=matrix)
        if refused is not None:
            groups.append({**group, "shown": False, "error": error_body(refused.message, refused.extra)})
            continue
        group |= {"shown": True, "testers": len(testers)}
        if matrix is None:
            groups.append({**group, "counted": 0, "variants": [], "estimated_shares": None, "verdict": None})
            continue
        part = matrix.only(testers)
        ratios = part.ratios()
        verdict = decision_summary(
            campaign=campaign,
            matrix=part,
            calibration=calibration,
            invited=len(testers),
            threshold=threshold,
            detect=detect,
        )
        groups.append(
            {
                **group,
                "counted": int(part.included.sum()),
                "variants": variant_rows(part, ratios),
                "estimated_shares": calibrated.estimated_shares(
                    calibration=calibration, variants=part.variants, means=part.shares_input()
                )
                if calibration is not None
                else None,
                "verdict": {
                    key: verdict[key] for key in ("method", "basis", "basis_note", "default_emotions", "emotions")
                },
            }
        )
    return {"question": question.pk, "question_text": question.text, "minimum": minimum_testers(), "groups": groups}
