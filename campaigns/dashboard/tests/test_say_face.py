"""Say versus face on built campaigns whose every tester's rating and happy share are chosen."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from scipy import stats as scipy_stats

from campaigns.dashboard import selectors
from campaigns.dashboard.say_face import say_face_rows, say_face_summary, spearman_agreement
from campaigns.models import Campaign, Organisation, SurveyQuestion, Variant
from inference.models import ModelVersion, Prediction
from sessions import models as tester_sessions
from sessions.models import Frame, SurveyAnswer

from .conftest import active_model

Z_975 = 1.959964  # normal quantile from a printed table


@dataclass
class Built:
    campaign: Campaign
    variants: list[Variant]
    question: SurveyQuestion
    testers: dict[str, tester_sessions.Tester]

    def short_id(self, name: str) -> str:
        return str(self.testers[name].pk)[:8]


def build_campaign(
    organisation: Organisation,
    faces: dict[str, tuple[tuple[int, int], ...]],
    ratings: dict[str, tuple[int | None, ...]],
    *,
    labels: tuple[str, ...] = ("A", "B"),
    status: str = Campaign.Status.RUNNING,
    is_demo: bool = False,
    threshold: float = 0.5,
    min_frames: int = 1,
    model: ModelVersion | None = None,
    happy_probability: float = 0.9,
) -> Built:
    """`faces`: per tester, (happy frames, analysed frames) on each variant; the happy frames at
    `happy_probability`, the others sad at 0.9. `ratings`: per tester, the rating of each variant on
    a 1-7 scale (None: not answered). `model`: the campaign's own model (default: the active one)."""
    campaign = Campaign.objects.create(
        organisation=organisation,
        name=f"Built {uuid.uuid4().hex[:6]}",
        status=status,
        is_demo=is_demo,
        confidence_threshold=threshold,
        min_frames_per_tester=min_frames,
        model_version=model,
    )
    predicting = model or active_model()
    variants = [
        Variant.objects.create(
            campaign=campaign, label=label, kind="image", file=f"v/{label}.png", content_type="image/png", position=i
        )
        for i, label in enumerate(labels)
    ]
    question = SurveyQuestion.objects.create(campaign=campaign, text="How much do you like it?")
    now = timezone.now()
    names = sorted(set(faces) | set(ratings))
    rows = tester_sessions.Tester.objects.bulk_create(
        tester_sessions.Tester(
            campaign=campaign,
            token_hash=uuid.uuid4().hex,
            consented_at=now,
            completed_at=now,
            camera=tester_sessions.Tester.Camera.GRANTED,
            variant_order=[str(v.pk) for v in variants],
        )
        for _name in names
    )
    testers = dict(zip(names, rows, strict=True))
    frames, happy = [], []
    for name, sides in faces.items():
        for variant, (happy_frames, total) in zip(variants, sides, strict=True):
            for sequence in range(total):
                frames.append(
                    Frame(
                        campaign=campaign,
                        tester=testers[name],
                        variant=variant,
                        sequence=sequence,
                        media_time_ms=sequence * 1000,
                        outcome=Frame.Outcome.PREDICTION,
                    )
                )
                happy.append(sequence < happy_frames)
    Frame.objects.bulk_create(frames)
    Prediction.objects.bulk_create(
        Prediction(
            frame=frame,
            model_version=predicting,
            campaign=campaign,
            variant_id=frame.variant_id,
            tester_id=frame.tester_id,
            media_time_ms=frame.media_time_ms,
            probabilities={"happy": happy_probability} if is_happy else {"sad": 0.9},
            top_class="happy" if is_happy else "sad",
            top_probability=happy_probability if is_happy else 0.9,
        )
        for frame, is_happy in zip(frames, happy, strict=True)
    )
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(tester=testers[name], variant=variant, question=question, rating=rating)
        for name, given in ratings.items()
        for variant, rating in zip(variants, given, strict=True)
        if rating is not None
    )
    return Built(campaign, variants, question, testers)


def dashboard_inputs(campaign: Campaign, threshold: float | None = None) -> dict:
    """What dashboard_data hands the analyses: the model, calibration, threshold, matrix and ratios."""
    threshold = campaign.confidence_threshold if threshold is None else threshold
    model = selectors.effective_model(campaign)
    calibration = selectors.active_calibration(model)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    matrix = selectors.tester_matrix(
        campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration
    )
    return {"model": model, "calibration": calibration, "threshold": threshold, "matrix": matrix}


def summary(built: Built) -> dict:
    matrix = dashboard_inputs(built.campaign)["matrix"]
    with translation.override("en"):
        return say_face_summary(campaign=built.campaign, matrix=matrix, ratios=matrix.ratios())


# Eight testers; tester i smiles at i of 10 frames on A and at 10 - i of 10 on B.
SMILES = {f"t{i}": ((i, 10), (10 - i, 10)) for i in range(1, 9)}
# Ratings that rise with the smiles on each variant (ties on the 1-7 scale: rho just under 1).
AGREEING = {f"t{i}": (min(7, 1 + i * 3 // 4), min(7, 1 + (10 - i) * 3 // 4)) for i in range(1, 9)}
# The same ratings the other way round.
REVERSED = {name: (8 - a, 8 - b) for name, (a, b) in AGREEING.items()}


def shares_and_ratings(faces, ratings, v):
    return [ratings[name][v] for name in faces], [faces[name][v][0] / faces[name][v][1] for name in faces]


@pytest.mark.django_db
def test_ratings_that_follow_the_faces_give_rho_near_one_with_an_interval_above_zero(organisation):
    built = build_campaign(organisation, SMILES, AGREEING)

    question = summary(built)["questions"][0]

    for v, row in enumerate(question["variants"]):
        ratings, shares = shares_and_ratings(SMILES, AGREEING, v)
        agreement = row["agreement"]
        assert agreement["n"] == 8
        assert agreement["rho"] == pytest.approx(scipy_stats.spearmanr(ratings, shares).statistic)
        assert agreement["rho"] > 0.95
        assert 0 < agreement["low"] < agreement["rho"] < agreement["high"] <= 1
        assert agreement["sentence"].startswith(f"On {row['label']}, testers who rated it higher also smiled more")
        assert row["happy_share"]["mean"] == pytest.approx(np.mean(shares))
        assert row["rating"]["mean"] == pytest.approx(np.mean(ratings))
    pair = question["pairs"][0]["agreement"]
    assert pair["rho"] > 0.95 and pair["low"] > 0
    assert pair["sentence"].startswith("Testers who liked B more than A also smiled more at B than at A")


@pytest.mark.django_db
def test_reversed_ratings_give_a_negative_rho(organisation):
    built = build_campaign(organisation, SMILES, REVERSED)

    question = summary(built)["questions"][0]

    for row in question["variants"]:
        assert row["agreement"]["rho"] < -0.95
        assert row["agreement"]["high"] < 0
        assert "testers who rated it higher smiled less" in row["agreement"]["sentence"]
    assert question["pairs"][0]["agreement"]["rho"] < -0.95
    assert question["pairs"][0]["agreement"]["high"] < 0


def test_interval_is_fisher_z_with_the_bonett_wright_standard_error():
    x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    y = [2, 1, 4, 3, 7, 5, 6, 10, 8, 9]
    rho = scipy_stats.spearmanr(x, y).statistic
    half_width = Z_975 * math.sqrt((1 + rho**2 / 2) / (10 - 3))

    agreement = spearman_agreement(x, y)

    assert agreement["rho"] == pytest.approx(rho)
    assert agreement["low"] == pytest.approx(math.tanh(math.atanh(rho) - half_width), abs=1e-5)
    assert agreement["high"] == pytest.approx(math.tanh(math.atanh(rho) + half_width), abs=1e-5)
    # Below 4 testers the standard error is undefined: no rho is claimed.
    assert spearman_agreement(x[:3], y[:3])["rho"] is None


@pytest.mark.django_db
def test_the_testers_whose_rating_and_face_disagree_most_are_named(organisation):
    # B - A happy share rises with i; so does B - A rating, except that "loud" rated B far above A
    # while smiling least at B, and "quiet" the other way round.
    faces = {f"t{i}": ((5, 10), (i, 10)) for i in range(1, 9)}
    ratings = {f"t{i}": (4, min(7, 1 + i * 3 // 4)) for i in range(1, 9)}
    faces |= {"loud": ((9, 10), (0, 10)), "quiet": ((0, 10), (10, 10))}
    ratings |= {"loud": (1, 7), "quiet": (7, 1)}
    built = build_campaign(organisation, faces, ratings)

    question = summary(built)["questions"][0]

    listed = question["disagreements"]
    assert 2 <= len(listed) <= 5
    assert {entry["tester"] for entry in listed[:2]} == {built.short_id("loud"), built.short_id("quiet")}
    assert all(entry["gap"] < listed[1]["gap"] for entry in listed[2:])
    loud = next(entry for entry in listed if entry["tester"] == built.short_id("loud"))
    assert (loud["rating_difference"], loud["happy_difference"]) == (6, pytest.approx(-0.9))
    assert (
        loud["sentence"]
        == f"Tester {built.short_id('loud')} rated B +6 against A; happy share on B −90 points against A."
    )
    assert question["disagreements_note"] == ""
    # Nobody else's id appears, and only the short pseudonym of those listed.
    assert all(len(entry["tester"]) == 8 for entry in listed)


@pytest.mark.django_db
def test_nobody_is_named_below_five_counted_testers(organisation):
    faces = {f"t{i}": ((i, 10), (10 - i, 10)) for i in range(1, 5)}
    ratings = {f"t{i}": (1 + i, 7 - i) for i in range(1, 5)}
    # A fifth tester who answered, but whose face counts on one variant only: not counted.
    faces["short"] = ((5, 10), (0, 1))
    ratings["short"] = (7, 1)
    built = build_campaign(organisation, faces, ratings, min_frames=3)

    data = summary(built)

    assert data["counted_testers"] == 4
    question = data["questions"][0]
    assert question["disagreements"] == []
    assert question["disagreements_note"].startswith(
        "The testers whose rating and face disagree most are named once 5 counted testers have rated the variants"
    )
    # The uncounted tester's ratings still count in the survey means, not in the correlation.
    assert question["variants"][0]["rating"]["n"] == 5
    assert question["variants"][0]["agreement"]["n"] == 4


@pytest.mark.django_db
def test_say_face_reads_two_queries_whatever_the_size(organisation):
    small = build_campaign(organisation, dict(list(SMILES.items())[:4]), AGREEING)
    # Twice the testers and a third variant.
    faces = {f"{name}{copy}": (*sides, (3, 10)) for name, sides in SMILES.items() for copy in "xy"}
    ratings = {f"{name}{copy}": (*given, 4) for name, given in AGREEING.items() for copy in "xy"}
    large = build_campaign(organisation, faces, ratings, labels=("A", "B", "C"))
    matrices = [dashboard_inputs(built.campaign)["matrix"] for built in (small, large)]

    counts = []
    for built, matrix in zip((small, large), matrices, strict=True):
        with CaptureQueriesContext(connection) as queries:
            say_face_summary(campaign=built.campaign, matrix=matrix, ratios=matrix.ratios())
        counts.append(len(queries))

    assert counts == [2, 2]


@pytest.mark.django_db
def test_csv_rows_carry_the_dashboards_figures_and_no_tester(organisation):
    built = build_campaign(organisation, SMILES, AGREEING)
    question = summary(built)["questions"][0]

    header, rows = say_face_rows(campaign=built.campaign, threshold=built.campaign.confidence_threshold)
    rows = list(rows)
    text = repr(rows)

    assert header[:3] == ["question", "scope", "variant"]
    assert [row[1:3] for row in rows] == [("variant", "A"), ("variant", "B"), ("difference", "B - A")]
    by_name = dict(zip(header, rows[0], strict=True))
    assert by_name["testers"] == 8
    assert by_name["spearman_rho"] == pytest.approx(question["variants"][0]["agreement"]["rho"])
    assert by_name["mean_happy_share"] == pytest.approx(question["variants"][0]["happy_share"]["mean"])
    assert all(str(tester.pk)[:8] not in text for tester in built.testers.values())
